"""What a worker process computes for the pages: each function takes a config and yields JSON-ready records.

The web server never runs these itself: it sends a serving.job.JobRequest naming one of them
("lab.jobs:train_run") to a worker, which streams the records back. Tables (the identity check,
the shortcut structure) travel as records too, so every result is cached and shared alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from torch import Tensor

from lab import nets as N
from resnet_core.boundary import decision_grid, has_boundary
from resnet_core.config import ExperimentConfig
from resnet_core.landscape import landscape_records
from resnet_core.lesion import after_training, lesion_study
from resnet_core.models import Stack
from resnet_core.paths import path_study
from resnet_core.shattered import shattered_records
from resnet_core.specs import ShatterSpec, SliceSpec
from resnet_core.training import measure_init, train

PAPER_INPUT = ((3, 32, 32), 10)  # CIFAR-10, as in He et al. Sec. 4.2


def train_run(config: ExperimentConfig, data: Sequence[Tensor] | None = None) -> Iterator[dict[str, Any]]:
    """The pair's training records; on a 2-D set, then each trained net's decision boundary (the nets stay here).

    `data`: `load_dataset(config)` loaded once for many runs (a Ray sweep's object store); by default loaded here.
    """
    if not has_boundary(config):  # the fast path: the pair stacked from the config, no module per layer
        yield from train(config, data=data)
        return
    models: dict[str, Stack] = {}
    yield from train(config, keep_models=models, data=data)
    yield {"kind": "boundary", "variant": "pair", "grid": decision_grid(models, config)}


def init_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    yield from measure_init(config)


def alpha_run(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    yield from N.alpha_records(config, alpha)


def identity_run(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    """The measured identity check of the nets scaled by alpha: one record holding its table and spread."""
    table, spread = N.identity_check(N.alpha_models(config, alpha), N.first_batch(config))
    yield {"kind": "identity", "variant": "pair", "table": table.to_dict(orient="records"), "spread": spread}


def structure_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """The per-block shortcut table and the parameter counts (this lab's input and the paper's), from built models."""
    counts = [
        {"model": f"this lab: {config.dataset}, width {config.width}", **N.parameter_counts(config)},
        {"model": "He et al. CIFAR-10: 3x32x32, width 16", **N.parameter_counts(config.replace(width=16), *PAPER_INPUT)},
    ]
    yield {
        "kind": "structure",
        "variant": "pair",
        "table": N.transition_table(config).to_dict(orient="records"),
        "counts": counts,
    }


def shattered_run(config: ExperimentConfig, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Shattered gradients of ShatterSpec(**spec) on the config's device; `config` is the spec's own mlp, which keys the cache."""
    yield from shattered_records(ShatterSpec(**spec), config.device)


def landscape_run(config: ExperimentConfig, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Train the pair, then its loss slices (SliceSpec(**spec)) around the trained weights."""
    yield from landscape_records(config, SliceSpec(**spec))


def lesion_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """Train the pair once, then delete blocks of both nets and measure the residual net's gradient per path length."""
    yield from after_training(config, lesion_study, path_study)
