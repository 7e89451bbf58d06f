"""What a user would run instead of the lab, timed beside it: section 0 of `benchmarks/run.py`.

Two torchvision-style CIFAR ResNets (He et al. 2015 Sec. 4.2: `BasicBlock`, `_make_layer`, option A
shortcuts), a plain and a residual one, trained one after the other on the lab's data, batches and
optimiser, with the gradient logging people add to see gradient flow:

(a) the common "plot grad flow" snippet: per weight, `p.grad.abs().mean().item()` after every backward;
(b) W&B-style gradient histograms (`wandb.watch(model, log="gradients", log_freq=1)`): a hook on every
    parameter that takes the gradient's min, max and a 64-bin `torch.histc`, copied to the host.

Both also evaluate train and test error when the lab does (step 0, then every `eval_every` steps) (eval mode, running BN
statistics: what a user's loop does; the lab re-estimates them first, which costs it more).
The lab side is `resnet_core.train(config)`: the pair in one computation with every per-layer and
per-block measurement at its cadence. torchvision itself is not installable beside this torch.
Times are this process's CPU time: on a shared machine wall time also counts the waits for a core.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core import ExperimentConfig, train
from resnet_core.data import load_dataset
from resnet_core.training import minibatch_indices


class BasicBlock(nn.Module):
    """torchvision's BasicBlock with the CIFAR paper's option A shortcut; `residual=False` drops the addition."""

    def __init__(self, in_planes: int, planes: int, stride: int, residual: bool) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.residual, self.stride, self.pad = residual, stride, planes - in_planes

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.residual:
            out = out + F.pad(x[:, :, :: self.stride, :: self.stride], (0, 0, 0, 0, 0, self.pad))
        return F.relu(out)


class CifarResNet(nn.Module):
    """resnet{6n+2} for CIFAR as the torchvision-style repositories write it: 3 stages, global pool, linear head."""

    def __init__(self, depth: int, width: int, in_channels: int, classes: int, residual: bool) -> None:
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(in_channels, width, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(width)
        self.in_planes = width
        self.layer1 = self._make_layer(width, n, 1, residual)
        self.layer2 = self._make_layer(2 * width, n, 2, residual)
        self.layer3 = self._make_layer(4 * width, n, 2, residual)
        self.fc = nn.Linear(4 * width, classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, mode="fan_in", nonlinearity="relu")

    def _make_layer(self, planes: int, blocks: int, stride: int, residual: bool) -> nn.Sequential:
        layers = []
        for s in [stride] + [1] * (blocks - 1):
            layers.append(BasicBlock(self.in_planes, planes, s, residual))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        return self.fc(out.mean(dim=(2, 3)))


def log_abs_mean(model: nn.Module) -> list[float]:
    """The "plot grad flow" snippet: one host sync per weight."""
    return [p.grad.abs().mean().item() for name, p in model.named_parameters() if "bias" not in name]


def histogram_hooks(model: nn.Module) -> list[torch.utils.hooks.RemovableHandle]:
    """W&B's gradient hook, per parameter: min and max to the host, then a 64-bin histogram."""

    def log(grad: Tensor) -> None:
        flat = grad.detach().flatten()
        low, high = flat.min().item(), flat.max().item()
        torch.histc(flat, bins=64, min=low, max=high).tolist()

    return [p.register_hook(log) for p in model.parameters()]


def train_peer(config: ExperimentConfig, logging: str) -> float:
    """Seconds to train plain, then residual, with `logging` ("abs_mean" or "histogram"), evaluating as the lab does."""
    x, y, x_test, y_test = load_dataset(config)
    start = time.process_time()
    for residual in (False, True):
        torch.manual_seed(config.seed)
        model = CifarResNet(config.depth, config.width, x.shape[1], int(y.max()) + 1, residual)
        optimizer = torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.l2)
        hooks = histogram_hooks(model) if logging == "histogram" else []
        batches = minibatch_indices(config, len(x))
        evaluate(model, ((x, y), (x_test, y_test)))  # the lab's step-0 evaluation
        for step in range(config.steps):
            index = next(batches)
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            if logging == "abs_mean":
                log_abs_mean(model)
            optimizer.step()
            loss.item()
            if (step + 1) % config.eval_every == 0 or step + 1 == config.steps:
                evaluate(model, ((x, y), (x_test, y_test)))
        for hook in hooks:
            hook.remove()
    return time.process_time() - start


@torch.no_grad()
def evaluate(model: nn.Module, sets: tuple[tuple[Tensor, Tensor], ...]) -> list[float]:
    model.eval()
    errors = [(model(a).argmax(1) != b).float().mean().item() for a, b in sets]
    model.train()
    return errors


def train_lab(config: ExperimentConfig) -> float:
    start = time.process_time()
    for _ in train(config):
        pass
    return time.process_time() - start


def peer_rows(config: ExperimentConfig, rounds: int, row: Callable[..., object]) -> list[object]:
    """Lab vs (a) and (b), interleaved round by round; ratios are medians of the per-round ratios."""
    runs: dict[str, Callable[[], float]] = {
        "lab": lambda: train_lab(config),
        "lab_every": lambda: train_lab(config.replace(measure_every=1)),
        "abs_mean": lambda: train_peer(config, "abs_mean"),
        "histogram": lambda: train_peer(config, "histogram"),
    }
    times: dict[str, list[float]] = {name: [] for name in runs}
    list(train(config.replace(steps=1)))  # first-call costs (imports, oneDNN primitives) out of round 1
    for _ in range(rounds):
        for name, run in runs.items():
            times[name].append(run())
    what = f"CNN-{config.depth} width {config.width}, {config.steps} steps, batch {config.batch_size}, {torch.get_num_threads()} thread(s)"
    rows = []
    for name, label in (("lab", f"every {config.measure_every} steps (the default)"), ("lab_every", "every step")):
        for peer, peer_label in (("abs_mean", "(a) .abs().mean().item() logging"), ("histogram", "(b) 64-bin histogram hooks")):
            value = statistics.median(a / b for a, b in zip(times[name], times[peer], strict=True))
            rows.append(
                row(
                    "0 peers",
                    f"lab pair, measured {label} / {peer_label}, two nets one after the other",
                    value,
                    "x",
                    "< 1" if name == "lab" else "",
                    value < 1 if name == "lab" else None,
                    f"{statistics.median(times[name]):.1f} s vs {statistics.median(times[peer]):.1f} s; {what}",
                )
            )
    return rows
