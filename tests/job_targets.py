"""Computations for tests/test_jobs.py and tests/test_sweep.py to run in worker processes: well-behaved, slow, crashing."""

from __future__ import annotations

import gc
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from resnet_core.config import ExperimentConfig


def count(config: ExperimentConfig, n: int, pause: float = 0.0) -> Iterator[dict[str, Any]]:
    for i in range(n):
        time.sleep(pause)
        yield {"kind": "step", "variant": "plain", "step": i, "pid": os.getpid()}


def waiting(gate: str | Path) -> Path:
    """The file count_then_wait writes when it holds the run's end: a test sends its Stop only then."""
    return Path(f"{gate}.waiting")


def count_then_wait(config: ExperimentConfig, n: int, gate: str) -> Iterator[dict[str, Any]]:
    """n records, then the end of the run held until the file `gate` exists: a Stop can arrive after the last record.

    `waiting(gate)` exists once the worker is past its last record (and its look for a Stop after it)."""
    yield from count(config, n)
    waiting(gate).touch()
    while not Path(gate).exists():
        time.sleep(0.01)


def abort_after(config: ExperimentConfig, n: int) -> Iterator[dict[str, Any]]:
    """A native crash, as the oneDNN heap corruption was: the process dies with SIGABRT."""
    yield from count(config, n)
    os.abort()


def refuse(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    raise ValueError("depth: 9 is not 6n+2")
    yield {}


def threads(config: ExperimentConfig) -> Iterator[dict[str, Any]]:
    import torch

    yield {"kind": "threads", "variant": "pair", "threads": torch.get_num_threads()}


def imported(config: ExperimentConfig, *modules: str) -> Iterator[dict[str, Any]]:
    """Which of `modules` this worker had imported before the job ran (a warm worker has the engine), and how many
    objects its warm-up froze out of the cycle collector's scans."""
    yield {"step": 0, "pid": os.getpid(), "imported": [m in sys.modules for m in modules], "frozen": gc.get_freeze_count()}


def train_but_seed_1_fails(config: ExperimentConfig, data: Any = None) -> Iterator[dict[str, Any]]:
    """A sweep cell that raises for seed 1 and trains for every other seed (tests/test_sweep.py)."""
    from lab.jobs import train_run

    if config.seed == 1:
        raise ValueError("seed: 1 refuses to train")
    yield from train_run(config, data)


def train_but_seed_1_waits(config: ExperimentConfig, data: Any = None) -> Iterator[dict[str, Any]]:
    """A sweep cell that waits (up to a minute) for seed 1, to be cancelled, and trains for every other seed."""
    from lab.jobs import train_run

    if config.seed == 1:
        yield from count(config, 600, pause=0.1)
    yield from train_run(config, data)


def computed_once(config: ExperimentConfig, folder: str) -> Iterator[dict[str, Any]]:
    """Leaves a marker per computation, then waits (up to a minute) for the test's "go" file before yielding."""
    Path(folder, f"computed-{os.getpid()}").touch()
    deadline = time.monotonic() + 60
    while not Path(folder, "go").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    yield from count(config, 3)


def submit_and_report(folder: str, params: dict[str, str]) -> None:
    """Another process's pool asks for the same result (tests/test_jobs.py); its job's end goes to folder/other.json."""
    import json

    from serving.job import JobRequest
    from serving.jobs import Executor

    pool = Executor(workers=1)
    job = pool.submit(JobRequest("shared", ExperimentConfig.from_params(params), "tests.job_targets:computed_once", (folder,)))
    Path(folder, "submitted").touch()
    while not job.finished:
        job.wait(0.1)
    pool.shutdown()
    report = {"state": job.state, "records": job.records, "stored": job.stored}
    Path(folder, "other.json").write_text(json.dumps(report))
