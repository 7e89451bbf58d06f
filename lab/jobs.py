"""What a worker process computes for the pages: each function takes a config and yields JSON-ready records.

The web server never runs these itself: it sends a serving.jobs.JobRequest naming one of them
("lab.jobs:train_run") to a worker, which streams the records back. Tables (the identity check,
the shortcut structure) travel as records too, so every result is cached and shared alike.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import pandas as pd
from torch import Tensor

from lab import experiments as E
from resnet_core.boundary import decision_grid, has_boundary
from resnet_core.config import ExperimentConfig
from resnet_core.models import Stack
from resnet_core.training import measure_init, train

PAPER_INPUT = ((3, 32, 32), 10)  # CIFAR-10, as in He et al. Sec. 4.2
PROBES = {"train": train, "shortcuts": E.shortcut_records}


def train_run(config: ExperimentConfig, data: Sequence[Tensor] | None = None) -> Iterator[dict[str, Any]]:
    """The pair's training records; on a 2-D set, then each trained net's decision boundary (the nets stay here).

    `data`: `load_dataset(config)` loaded once for many runs (a Ray sweep's object store); by default loaded here.
    """
    models: dict[str, Stack] = {}
    yield from train(config, keep_models=models, data=data)
    if has_boundary(config):
        yield {"kind": "boundary", "variant": "pair", "grid": decision_grid(models, config)}


def init_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    yield from measure_init(config)


def alpha_run(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    yield from E.alpha_records(config, alpha)


def shortcuts_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    yield from E.shortcut_records(config)


def identity_run(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    """The measured identity check of the nets scaled by alpha: one record holding its table and spread."""
    table, spread = E.identity_check(E.alpha_models(config, alpha), E.first_batch(config))
    yield {"kind": "identity", "variant": "pair", "table": table.to_dict(orient="records"), "spread": spread}


def structure_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """The per-block shortcut table and the parameter counts (this lab's input and the paper's), from built models."""
    counts = [
        {"model": f"this lab: {config.dataset}, width {config.width}", **E.parameter_counts(config)},
        {"model": "He et al. CIFAR-10: 3x32x32, width 16", **E.parameter_counts(config.replace(width=16), *PAPER_INPUT)},
    ]
    yield {
        "kind": "structure",
        "variant": "pair",
        "table": E.transition_table(config).to_dict(orient="records"),
        "counts": counts,
    }


def estimate_run(
    config: ExperimentConfig, depths: tuple[int, ...], probe: str, alpha: float | None = None
) -> Iterator[dict[str, Any]]:
    """Seconds the real runs will take on this machine, timed from a short probe run in a worker like theirs."""
    runner = (lambda c: E.alpha_records(c, alpha)) if alpha is not None else PROBES[probe]
    yield {"kind": "estimate", "variant": "pair", "seconds": E.estimate_seconds(config, depths, runner=runner)}


def frame(record: dict[str, Any], name: str = "table") -> pd.DataFrame:
    """A table record back as the DataFrame it was computed as."""
    return pd.DataFrame.from_records(record[name])
