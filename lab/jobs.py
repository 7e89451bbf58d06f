"""What a worker process computes for the pages: each function takes a config and yields JSON-ready records.

The web server never runs these itself: it sends a serving.jobs.JobRequest naming one of them
("lab.jobs:train_run") to a worker, which streams the records back. Tables (the identity check,
the shortcut structure) travel as records too, so every result is cached and shared alike.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd
from torch import Tensor

from lab import identity as I
from lab import shortcuts as S
from resnet_core.boundary import decision_grid, has_boundary
from resnet_core.config import ExperimentConfig
from resnet_core.landscape import SliceSpec, landscape_records
from resnet_core.lesion import after_training, lesion_study
from resnet_core.models import Stack
from resnet_core.paths import path_study
from resnet_core.shattered import ShatterSpec, shattered_records
from resnet_core.training import measure_init, train

PAPER_INPUT = ((3, 32, 32), 10)  # CIFAR-10, as in He et al. Sec. 4.2


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
    yield from I.alpha_records(config, alpha)


def identity_run(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    """The measured identity check of the nets scaled by alpha: one record holding its table and spread."""
    table, spread = I.identity_check(I.alpha_models(config, alpha), I.first_batch(config))
    yield {"kind": "identity", "variant": "pair", "table": table.to_dict(orient="records"), "spread": spread}


def structure_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """The per-block shortcut table and the parameter counts (this lab's input and the paper's), from built models."""
    counts = [
        {"model": f"this lab: {config.dataset}, width {config.width}", **S.parameter_counts(config)},
        {"model": "He et al. CIFAR-10: 3x32x32, width 16", **S.parameter_counts(config.replace(width=16), *PAPER_INPUT)},
    ]
    yield {
        "kind": "structure",
        "variant": "pair",
        "table": S.transition_table(config).to_dict(orient="records"),
        "counts": counts,
    }


def estimate_run(config: ExperimentConfig, depths: tuple[int, ...]) -> Iterator[dict[str, Any]]:
    """Seconds one pair per depth will take on this machine, timed from a short probe run in a worker like theirs."""
    yield {"kind": "estimate", "variant": "pair", "seconds": estimate_seconds(config, depths)}


PROBE_STEPS = 5


def estimate_seconds(config: ExperimentConfig, depths: Iterable[int]) -> float:
    """Seconds `train(config)` will take here at each depth, from a short timed probe.

    Measured rather than assumed, because the machine and the engine decide. The probe times
    setup, a plain step (the fastest of two, so one scheduling hiccup isn't multiplied by the
    budget), the extra cost of a measured step and one evaluation, then scales each by how
    often the real run does it.
    """
    total = 0.0
    for depth in depths:
        probe = config.replace(depth=depth, steps=PROBE_STEPS, measure_every=PROBE_STEPS, eval_every=PROBE_STEPS)
        began = time.perf_counter()
        setup, step_times, eval_time = 0.0, {}, 0.0
        for record in train(probe):
            now = time.perf_counter() - began
            if record["kind"] == "eval" and record["step"] == 0 and not setup:
                setup = now
            elif record["kind"] == "step":
                step_times[record["step"]] = now  # every net's record of a step: keep the last
            elif record["kind"] == "eval" and record["step"] == PROBE_STEPS:
                eval_time = now - step_times[PROBE_STEPS - 1]  # likewise, until the last net is evaluated
        durations = [step_times[k] - step_times[k - 1] for k in range(1, PROBE_STEPS)]
        plain_step = min(durations[1:-1])  # steps 2 and 3: warmed up and not measured
        measured_extra = max(durations[-1] - plain_step, 0.0)  # the last step is measured
        measured = math.ceil(config.steps / config.measure_every) + 1  # the cadence plus the last step
        evaluations = math.ceil(config.steps / config.eval_every)  # the one at step 0 is inside `setup`
        total += setup + plain_step * config.steps + measured_extra * measured + eval_time * evaluations
    return total


def shattered_run(config: ExperimentConfig, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Shattered gradients of ShatterSpec(**spec); `config` is the spec's own mlp, which keys the cache."""
    yield from shattered_records(ShatterSpec(**spec))


def landscape_run(config: ExperimentConfig, spec: dict[str, Any]) -> Iterator[dict[str, Any]]:
    """Train the pair, then its loss slices (SliceSpec(**spec)) around the trained weights."""
    yield from landscape_records(config, SliceSpec(**spec))


def lesion_run(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    """Train the pair once, then delete blocks of both nets and measure the residual net's gradient per path length."""
    yield from after_training(config, lesion_study, path_study)


def frame(record: dict[str, Any], name: str = "table") -> pd.DataFrame:
    """A table record back as the DataFrame it was computed as."""
    return pd.DataFrame.from_records(record[name])
