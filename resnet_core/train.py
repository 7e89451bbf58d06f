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
L2 is *coupled* weight decay on every parameter (BN included): the gradient gets + l2 * W,
which is the L2 penalty (l2 / 2) ||W||^2 added to the loss, also under Adam (not AdamW).
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from contextlib import nullcontext
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from resnet_core.config import ExperimentConfig
from resnet_core.data import dataset_info, load_dataset
from resnet_core.models import VARIANTS, Stack, build_pair
from resnet_core.probes import BLOCK_METRICS, BlockRecorder, Measurement, collect, measure, weight_layers

EVAL_BATCH = 1024


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


def make_optimizer(config: ExperimentConfig, model: Stack) -> torch.optim.Optimizer:
    if config.optimizer == "adam":
        return torch.optim.Adam(model.parameters(), lr=config.lr, weight_decay=config.l2)
    return torch.optim.SGD(model.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.l2)


@torch.no_grad()
def error_rate(model: Stack, x: Tensor, y: Tensor) -> Tensor:
    """Misclassified fraction in eval mode (BN running statistics), as a device scalar."""
    was_training = model.training
    model.eval()
    wrong = torch.zeros((), device=x.device)
    for start in range(0, len(x), EVAL_BATCH):
        logits = model(x[start : start + EVAL_BATCH])
        wrong += (logits.argmax(1) != y[start : start + EVAL_BATCH]).sum()
    model.train(was_training)
    return wrong / max(len(x), 1)


def minibatch_indices(config: ExperimentConfig, n: int) -> Iterator[Tensor]:
    """Shuffled epochs from a seeded generator: both nets see the same batches in the same order."""
    generator = torch.Generator().manual_seed(config.seed)
    batch = min(config.batch_size, n)
    while True:
        order = torch.randperm(n, generator=generator)
        for start in range(0, n - batch + 1, batch):
            yield order[start : start + batch]


def layer_meta(model: Stack) -> list[dict[str, Any]]:
    return [{"name": info.name, "index": info.index, "kind": info.kind} for info, _ in weight_layers(model)]


def _setup(config: ExperimentConfig) -> tuple[torch.device, tuple[Tensor, ...], dict[str, Stack], list[dict[str, Any]]]:
    """Device, data on it, the pair of models, and their meta records."""
    device = resolve_device(config.device)
    data = tuple(t.to(device) for t in load_dataset(config))
    info = dataset_info(config)
    models = {v: m.to(device) for v, m in build_pair(config, info.in_shape, info.n_classes).items()}
    metas = [{"kind": "meta", "variant": v, "layers": layer_meta(m), "blocks": [f"block {i + 1}" for i in range(len(m.block_list()))],
              "device": str(device), "n_params": sum(p.numel() for p in m.parameters())} for v, m in models.items()]
    return device, data, models, metas


def measure_init(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """The step-0 records of `train(config)` (same first minibatch, same weights) without training: instant."""
    device, (x_train, y_train, *_), models, metas = _setup(config)
    yield from metas
    index = next(minibatch_indices(config, len(x_train))).to(device)
    xb, yb = x_train[index], y_train[index]
    losses, measurements = {}, {}
    for v, model in models.items():
        losses[v], measurements[v] = measure(model, xb, yb)
    host = torch.cat([torch.cat([losses[v].reshape(1), measurements[v].flat()]) for v in models]).cpu().tolist()
    cursor = 0
    for v, model in models.items():
        n_layers, n_blocks = len(measurements[v].grad_norm), len(model.block_list())
        width = 1 + 2 * n_layers + len(BLOCK_METRICS) * n_blocks
        values = host[cursor : cursor + width]
        cursor += width
        yield {"kind": "step", "variant": v, "step": 0, "loss": values[0], "batch_error": math.nan,
               **Measurement.unflatten(values[1:], n_layers, n_blocks)}


def train(config: ExperimentConfig, keep_models: dict[str, Stack] | None = None) -> Iterator[dict[str, Any]]:
    """Train the pair side by side; a diverging net stops alone and the other goes on.

    `keep_models`, if given, is filled with the two live models, so a caller can evaluate the
    trained nets (e.g. a decision boundary) without training them again.
    """
    device, (x_train, y_train, x_test, y_test), models, metas = _setup(config)
    if keep_models is not None:
        keep_models.update(models)
    optimizers = {v: make_optimizer(config, m) for v, m in models.items()}
    params = {v: [p for _, p in weight_layers(m)] for v, m in models.items()}
    sizes = {v: (len(params[v]), len(m.block_list())) for v, m in models.items()}
    yield from metas

    live = list(VARIANTS)
    last_eval: dict[str, dict[str, float]] = {}
    diverged_at: dict[str, int] = {}
    yield from _evaluate(models, live, 0, (x_train, y_train, x_test, y_test), last_eval)
    batches = minibatch_indices(config, len(x_train))
    for step in range(config.steps):
        index = next(batches).to(device)
        xb, yb = x_train[index], y_train[index]
        measured = step % config.measure_every == 0 or step == config.steps - 1
        device_values, layouts = [], []
        for v in live:
            loss, wrong, measurement = _train_step(models[v], optimizers[v], params[v], xb, yb, measured)
            device_values.append(torch.stack([loss, wrong]))
            if measurement is not None:
                device_values.append(measurement.flat())
            layouts.append((v, measurement is not None))
        host = torch.cat(device_values).cpu().tolist() if device_values else []  # the one transfer per step
        cursor = 0
        for v, has_measurement in layouts:
            loss, wrong = host[cursor], host[cursor + 1]
            cursor += 2
            record: dict[str, Any] = {"kind": "step", "variant": v, "step": step, "loss": loss, "batch_error": wrong}
            if has_measurement:
                n_layers, n_blocks = sizes[v]
                width = 2 * n_layers + len(BLOCK_METRICS) * n_blocks
                record.update(Measurement.unflatten(host[cursor : cursor + width], n_layers, n_blocks))
                cursor += width
            yield record
            if not math.isfinite(loss):
                diverged_at[v] = step
                yield {"kind": "diverged", "variant": v, "step": step, "loss": loss}
        live = [v for v in live if v not in diverged_at]
        done = step + 1
        if live and (done % config.eval_every == 0 or done == config.steps):
            yield from _evaluate(models, live, done, (x_train, y_train, x_test, y_test), last_eval)
    for v in VARIANTS:
        final = last_eval.get(v, {"train_error": math.nan, "test_error": math.nan})
        yield {"kind": "done", "variant": v, **final, "diverged": v in diverged_at, "diverged_at": diverged_at.get(v)}


def _train_step(model: Stack, optimizer: torch.optim.Optimizer, params: list[torch.nn.Parameter],
                xb: Tensor, yb: Tensor, measured: bool) -> tuple[Tensor, Tensor, Measurement | None]:
    """Forward, backward, measure (on the gradient about to be applied), update."""
    with BlockRecorder(model) if measured else nullcontext() as recorder:
        logits = model(xb)
        loss = F.cross_entropy(logits, yb)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
    measurement = collect(recorder, params, [p.grad for p in params]) if recorder is not None else None
    optimizer.step()
    wrong = (logits.detach().argmax(1) != yb).float().mean()
    return loss.detach(), wrong, measurement


def _evaluate(models: dict[str, Stack], live: list[str], step: int, data: tuple[Tensor, ...],
              last_eval: dict[str, dict[str, float]]) -> Iterator[dict[str, Any]]:
    x_train, y_train, x_test, y_test = data
    errors = torch.stack([e for v in live for e in (error_rate(models[v], x_train, y_train), error_rate(models[v], x_test, y_test))])
    values = errors.cpu().tolist()
    for i, v in enumerate(live):
        last_eval[v] = {"train_error": values[2 * i], "test_error": values[2 * i + 1]}
        yield {"kind": "eval", "variant": v, "step": step, **last_eval[v]}
