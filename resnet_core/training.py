"""Paired training: the plain and the residual net of one config, same init, same minibatches.

`train(config)` is a generator of plain dicts (JSON-ready), so a page can draw while it
runs, a CLI can show a progress bar, and a caller can stop simply by not asking for more:

    {"kind": "meta",  "variant", "layers": [{"name", "index", "kind"}], "blocks": [names], "device", "n_params"}
    {"kind": "step",  "variant", "step", "loss", "batch_error", and at the measuring cadence
                      "grad_norm", "weight_norm" (per layer), "act_grad_norm", "act_std", "branch_ratio" (per block)}
    {"kind": "eval",  "variant", "step", "train_error", "test_error"}
    {"kind": "diverged", "variant", "step", "loss"}
    {"kind": "done",  "variant", "train_error", "test_error", "diverged", "diverged_at"}

Step t's record is measured on the weights after t updates, so step 0 is initialisation.
Training and test error have one definition everywhere: resnet_core.evaluation.evaluate.
L2 is *coupled* weight decay on every parameter (BN included): the gradient gets + l2 * W,
which is the L2 penalty (l2 / 2) ||W||^2 added to the loss, also under Adam (not AdamW).
"""

from __future__ import annotations

import gc
import math
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from resnet_core.config import ExperimentConfig
from resnet_core.data import dataset_info, load_dataset
from resnet_core.evaluation import evaluate
from resnet_core.models import Stack, build_pair
from resnet_core.paired import PairedStack
from resnet_core.probes import Measurement, layer_infos
from resnet_core.recipe import augmenter, lr_schedule
from resnet_core.specs import VARIANTS
from resnet_core.structure import NetSpec


def resolve_device(name: str) -> torch.device:
    """auto -> CUDA, then Apple MPS, then CPU; an explicit but absent device is a ValueError."""
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise ValueError("device: 'cuda' is not available on this machine; allowed: auto, cpu")
    if name == "mps" and not torch.backends.mps.is_available():
        raise ValueError("device: 'mps' is not available on this machine; allowed: auto, cpu")
    return torch.device(name)


def make_optimizer(config: ExperimentConfig, model: Stack | PairedStack) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.l2)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.l2)


def minibatch_indices(config: ExperimentConfig, n: int) -> Iterator[Tensor]:
    """Shuffled epochs from a seeded generator: both nets see the same batches in the same order."""
    generator = torch.Generator().manual_seed(config.seed)
    batch = min(config.batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch + 1, batch):
            yield order[start : start + batch]


def layer_meta(spec: NetSpec, variant: str) -> list[dict[str, Any]]:
    """The `layers` field of a meta record: every weight layer's name, index and kind (probes.layer_infos)."""
    weights = [name for name, shape in spec.parameters(variant) if len(shape) >= 2]
    return [{"name": info.name, "index": info.index, "kind": info.kind} for info in layer_infos(weights)]


Prepare = Callable[[dict[str, Stack]], None]


def _setup(
    config: ExperimentConfig,
    prepare: Prepare | None = None,
    data: Sequence[Tensor] | None = None,
    keep_models: dict[str, Stack] | None = None,
) -> tuple[tuple[Tensor, ...], PairedStack, list[dict[str, Any]]]:
    """Data on the device (`load_dataset(config)` unless given), the pair stacked, and its meta records.

    The pair is stacked straight from the config unless a caller needs the two nets as modules (`prepare`
    changes their weights first; `keep_models` receives them): building a module per layer was most of
    a deep pair's initial measurement (benchmarks/RESULTS.md, "initial measurement").
    """
    device = resolve_device(config.device)
    data = tuple(t.to(device) for t in (load_dataset(config) if data is None else data))
    info = dataset_info(config)
    if prepare is None and keep_models is None:
        pair = PairedStack.from_config(config, info.in_shape, info.n_classes)  # built on the CPU: the seeded draws
    else:
        models = build_pair(config, info.in_shape, info.n_classes)  # built on the CPU
        if device.type != "cpu":  # Module.to walks every module even when nothing moves (CNN-1202: ~9,600)
            models = {v: m.to(device) for v, m in models.items()}
        if prepare is not None:
            prepare(models)
        if keep_models is not None:
            keep_models.update(models)
        pair = PairedStack.of_nets(models["plain"], models["residual"])
    pair = pair.to(device) if device.type != "cpu" else pair
    metas = [
        {
            "kind": "meta",
            "variant": v,
            "layers": layer_meta(pair.spec, v),
            "blocks": [f"block {i + 1}" for i in range(len(pair.spec.blocks))],
            "device": str(device),
            "n_params": sum(math.prod(shape) for _, shape in pair.spec.parameters(v)),
        }
        for v in VARIANTS
    ]
    return data, pair, metas


@contextmanager
def _cycle_collector_paused() -> Iterator[None]:
    """Hold the cyclic garbage collector while a pair is built and measured (never across a yield).

    Building and measuring a deep pair leaves tens of thousands of live objects, enough to trigger full
    collections that scan the whole interpreter (torch, scikit-learn): a visible share of CNN-1202's
    initial measurement (benchmarks/RESULTS.md). Nothing here makes cyclic garbage to wait for.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def measure_init(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """The step-0 records of `train(config)` (same first minibatch, same weights) without training: instant."""
    with _cycle_collector_paused():
        (x_train, y_train, *_), pair, metas = _setup(config)
        index = next(minibatch_indices(config, len(x_train))).to(x_train.device)
        pair.recording = True
        losses = _losses(pair(x_train[index]), y_train[index])
        losses.sum().backward()
        measurements = pair.measurements()
        host = torch.cat([losses, *measurements.values()]).cpu().tolist()  # the one transfer
    yield from metas
    cursor = len(VARIANTS)
    for g, v in enumerate(VARIANTS):
        n_layers, n_blocks = len(pair.layers[v]), len(pair.spec.blocks)
        values = host[cursor : cursor + len(measurements[v])]
        cursor += len(values)
        yield {
            "kind": "step",
            "variant": v,
            "step": 0,
            "loss": host[g],
            "batch_error": math.nan,
            **Measurement.unflatten(values, n_layers, n_blocks),
        }


def train(
    config: ExperimentConfig,
    keep_models: dict[str, Stack] | None = None,
    prepare: Prepare | None = None,
    data: Sequence[Tensor] | None = None,
) -> Iterator[dict[str, Any]]:
    """Train the pair side by side in one batched computation; a diverging net stops alone and the other goes on.

    `prepare`, if given, changes the freshly built pair's weights before training (the Identity page
    scales every branch). `keep_models`, if given, is filled with the two models, holding the trained weights once
    training ends or the caller stops asking for records, so a caller can evaluate the trained
    nets (e.g. a decision boundary) without training them again. `data`, if given, is
    `load_dataset(config)` loaded once elsewhere (a cluster ships it to every task).
    """
    with _cycle_collector_paused():
        data, pair, metas = _setup(config, prepare, data, keep_models)
    try:
        yield from _train_pair(config, pair, data, metas)
    finally:
        if keep_models is not None:
            pair.write_back(keep_models)


def _train_pair(
    config: ExperimentConfig, pair: PairedStack, data: tuple[Tensor, ...], metas: list[dict[str, Any]]
) -> Iterator[dict[str, Any]]:
    x_train, y_train, x_test, y_test = data
    device = x_train.device
    optimizer = make_optimizer(config, pair)  # per-element updates, so one optimizer over stacked tensors = one per net
    schedule, augment = lr_schedule(config, optimizer), augmenter(config)
    sizes = {v: (len(pair.layers[v]), len(pair.spec.blocks)) for v in VARIANTS}
    yield from metas

    live = list(VARIANTS)
    last_eval: dict[str, dict[str, float]] = {}
    diverged_at: dict[str, int] = {}
    yield from _evaluate(pair, live, 0, (x_train, y_train, x_test, y_test), last_eval)
    batches = minibatch_indices(config, len(x_train))
    for step in range(config.steps):
        index = next(batches).to(device)
        xb, yb = augment(x_train[index]), y_train[index]
        measured = step % config.measure_every == 0 or step == config.steps - 1
        losses, wrong, measurements = _train_step(pair, optimizer, xb, yb, measured, live)
        if schedule is not None:
            schedule.step()
        host = torch.cat([losses, wrong, *measurements.values()]).cpu().tolist()  # the one transfer per step
        cursor = 2 * len(VARIANTS)
        for g, v in enumerate(VARIANTS):
            width = len(measurements[v]) if measured else 0
            values, cursor = host[cursor : cursor + width], cursor + width
            if v not in live:
                continue
            loss = host[g]
            record: dict[str, Any] = {
                "kind": "step",
                "variant": v,
                "step": step,
                "loss": loss,
                "batch_error": host[len(VARIANTS) + g],
            }
            if measured:
                record.update(Measurement.unflatten(values, *sizes[v]))
            yield record
            if not math.isfinite(loss):
                diverged_at[v] = step
                yield {"kind": "diverged", "variant": v, "step": step, "loss": loss}
        live = [v for v in live if v not in diverged_at]
        done = step + 1
        if live and (done % config.eval_every == 0 or done == config.steps):
            yield from _evaluate(pair, live, done, (x_train, y_train, x_test, y_test), last_eval)
    for v in VARIANTS:
        final = last_eval.get(v, {"train_error": math.nan, "test_error": math.nan})
        yield {"kind": "done", "variant": v, **final, "diverged": v in diverged_at, "diverged_at": diverged_at.get(v)}


def _losses(logits: Tensor, y: Tensor) -> Tensor:
    """Mean cross-entropy of each net, (2,), from paired logits (2, batch, classes) in one kernel."""
    per_sample = F.cross_entropy(logits.flatten(0, 1), y.repeat(len(logits)), reduction="none")
    return per_sample.view(len(logits), -1).mean(1)


def _train_step(
    pair: PairedStack, optimizer: torch.optim.Optimizer, xb: Tensor, yb: Tensor, measured: bool, live: list[str]
) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
    """Forward, backward, measure (on the gradient about to be applied), update; both nets at once."""
    pair.recording = measured
    logits = pair(xb)
    losses = _losses(logits, yb)
    optimizer.zero_grad(set_to_none=True)
    # A diverged net drops out of the loss; its half still runs, but no value crosses between halves.
    losses[[VARIANTS.index(v) for v in live]].sum().backward()
    measurements = pair.measurements() if measured else {}
    pair.recording = False
    optimizer.step()
    wrong = (logits.detach().argmax(2) != yb).float().mean(1)
    return losses.detach(), wrong, measurements


def _evaluate(
    pair: PairedStack, live: list[str], step: int, data: tuple[Tensor, ...], last_eval: dict[str, dict[str, float]]
) -> Iterator[dict[str, Any]]:
    values = torch.stack(evaluate(pair, data)).cpu().tolist()
    for v in live:
        g = VARIANTS.index(v)
        last_eval[v] = {"train_error": values[0][g], "test_error": values[1][g]}
        yield {"kind": "eval", "variant": v, "step": step, **last_eval[v]}
