"""Sweeps: one training job per cell of a grid of configs, run by a backend, each cell stored in the shared result cache.

A cell is one ExperimentConfig. Its records are what the app computes for the same config
(kind "train", `lab.jobs:train_run`) under the same cache key, so a page reads a sweep's cells as
its own runs, and a rerun of a sweep computes only the cells the cache lacks. Two backends share
one small interface, `Backend`: `LocalBackend` (the lab's worker pool, serving.jobs) and
`serving.ray_backend.RayBackend` (one Ray task per cell). `stored_sweep` reads a grid back from the
cache for the CLI's table and the pages: per cell the final errors, per setting their mean and
min–max range over seeds (resnet_core.results.seed_summary, as on every page), and which cells are missing.
"""

from __future__ import annotations

import itertools
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, replace
from typing import Any, Protocol

import pandas as pd

from resnet_core.config import FIELDS, ConfigError, ExperimentConfig, format_value, parse_value
from resnet_core.results import seed_summary
from resnet_core.specs import VARIANTS
from serving import cache
from serving.job import DONE, Job, JobRequest
from serving.jobs import POLL_SECONDS, Executor

KIND, TARGET = "train", "lab.jobs:train_run"  # the Degradation page's kind and target: one cache key for both
SEEDS = tuple(range(5))  # the seeds a page looks for: He et al. report 5 runs per net (Table 6)
SINGLE = ("lr_drops", "data_path")  # one value each: a comma belongs to the value itself
ERRORS = ("train_error", "test_error")


@dataclass(frozen=True)
class Outcome:
    """How one cell ended: DONE with its records, FAILED or CANCELLED with a message; `stored` once in the cache."""

    config: ExperimentConfig
    state: str
    records: list[dict[str, Any]]
    message: str = ""
    stored: bool = False


class Backend(Protocol):
    """Where cells run: `run` yields each cell's outcome as it finishes (any order); `cancel` stops one cell."""

    def run(self, configs: Sequence[ExperimentConfig]) -> Iterator[Outcome]: ...

    def cancel(self, config: ExperimentConfig) -> None: ...

    def close(self) -> None: ...


def request(config: ExperimentConfig, target: str = TARGET) -> JobRequest:
    """A cell's job, stored under the page's key: the local pool claims the key, so a cell another process
    (a server, another sweep) is computing is read from the cache when it finishes, not computed twice."""
    return JobRequest(KIND, config, target)


class LocalBackend:
    """Cells as jobs of a pool of worker processes (serving.jobs.Executor)."""

    def __init__(self, pool: Executor, target: str = TARGET, owned: bool = True) -> None:
        self.pool, self.target, self.owned = pool, target, owned
        self.jobs: dict[ExperimentConfig, Job] = {}

    @classmethod
    def start(cls, workers: int, threads: int) -> LocalBackend:
        """A pool of its own, shut down by `close`; nobody "watches" a sweep's job, so none is ever idle."""
        return cls(Executor(workers, threads, idle_seconds=math.inf))

    def run(self, configs: Sequence[ExperimentConfig]) -> Iterator[Outcome]:
        pending = {config: self.pool.submit(request(config, self.target)) for config in configs}
        self.jobs.update(pending)
        while pending:
            for config, job in list(pending.items()):
                if job.finished:
                    del pending[config]
                    records = list(job.records) if job.state == DONE else []
                    yield Outcome(config, job.state, records, job.message, job.stored)
            time.sleep(POLL_SECONDS)

    def cancel(self, config: ExperimentConfig) -> None:
        if config in self.jobs:
            self.pool.cancel(self.jobs[config])

    def close(self) -> None:
        """Shut the pool down if it is this backend's own, else cancel what is left of this sweep."""
        if self.owned:
            self.pool.shutdown()
        for job in self.jobs.values():
            self.pool.cancel(job)


def missing(configs: Sequence[ExperimentConfig]) -> list[ExperimentConfig]:
    """The cells the shared cache lacks: all a rerun schedules."""
    return [config for config in configs if cache.get(KIND, config) is None]


def run(configs: Sequence[ExperimentConfig], backend: Backend) -> Iterator[Outcome]:
    """Run `configs` on `backend`, storing each finished cell as it arrives, so a stopped sweep keeps what it computed.

    The local pool stores its cells itself (under the claim it computed them by); this stores the others' (Ray's).
    """
    for outcome in backend.run(configs):
        stored = outcome.stored or (outcome.state == DONE and cache.put(KIND, outcome.config, outcome.records))
        yield replace(outcome, stored=stored)


# ---- Grids: the CLI's lists and ranges, and back ------------------------------------------------------------------------


def parse_list(name: str, text: str) -> list[Any]:
    """A field's values from a comma list, whole-number ranges written a-b ("0-4"); ConfigError naming the field."""
    if name in SINGLE:
        return [parse_value(name, text)]
    values: list[Any] = []
    for part in str(text).split(","):
        low, dash, high = part.strip().partition("-")
        if dash and FIELDS[name].kind is int and low:
            first, last = parse_value(name, low), parse_value(name, high)
            if first > last:
                raise ConfigError(name, "is a range that runs backwards; write low-high such as 0-4", part)
            values.extend(range(first, last + 1))
        else:
            values.append(parse_value(name, part))
    return list(dict.fromkeys(values))


def grid(values: dict[str, list[Any]]) -> list[ExperimentConfig]:
    """Every combination of the fields' values, in FIELDS order (the last field varies fastest); each validated."""
    names = list(values)
    return [ExperimentConfig(**dict(zip(names, combo, strict=True))) for combo in itertools.product(*values.values())]


def varying(configs: Sequence[ExperimentConfig]) -> list[str]:
    """The fields that take more than one value across `configs`: the columns of a sweep's table."""
    return [name for name in FIELDS if len({getattr(c, name) for c in configs}) > 1]


def format_list(name: str, values: Sequence[Any]) -> str:
    """The text `parse_list` reads back as `values`: runs of whole numbers as a-b ranges."""
    ordered = sorted(set(values))
    if FIELDS[name].kind is int and len(ordered) > 2 and ordered == list(range(ordered[0], ordered[-1] + 1)):
        return f"{ordered[0]}-{ordered[-1]}"
    return ",".join(format_value(v) for v in ordered)


def sweep_command(configs: Sequence[ExperimentConfig]) -> str:
    """The CLI line that computes this grid (cells already stored are skipped); the host's data path stays out."""
    default = ExperimentConfig()
    parts = ["python -m resnet_core sweep"]
    for name, spec in FIELDS.items():
        values = {getattr(c, name) for c in configs}
        if spec.in_url and values != {getattr(default, name)}:
            parts.append(f"--{name.replace('_', '-')} {format_list(name, list(values))}")
    if any(c.data_path for c in configs):
        parts.append("--data-path <your CIFAR-10 copy>")
    return " ".join(parts)


def cell_label(config: ExperimentConfig, fields: Sequence[str]) -> str:
    return " ".join(f"{name} {format_value(getattr(config, name))}" for name in fields) or "the one cell"


# ---- Reading a sweep back ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StoredSweep:
    """A grid as the cache holds it now. `cells`: per stored cell and net, the final errors; `summary`: per setting
    (all but the seed) and net, `<error>_mean`, `_low`, `_high` over the stored `seeds`; `missing`: the cells not stored."""

    fields: list[str]
    cells: pd.DataFrame
    summary: pd.DataFrame
    missing: list[ExperimentConfig]


def final_rows(config: ExperimentConfig, records: Sequence[dict[str, Any]], fields: Sequence[str]) -> list[dict[str, Any]]:
    """One row per net from a cell's `done` records: the swept fields' values and the final train and test error."""
    cell = {name: getattr(config, name) for name in fields}
    return [
        cell
        | {"variant": r["variant"], "train_error": r["train_error"], "test_error": r["test_error"], "diverged": r["diverged"]}
        for r in records
        if r.get("kind") == "done" and r.get("variant") in VARIANTS
    ]


def stored_sweep(configs: Sequence[ExperimentConfig]) -> StoredSweep:
    """What the cache holds of `configs`, and what it lacks."""
    fields = varying(configs)
    rows: list[dict[str, Any]] = []
    absent = []
    for config in configs:
        records = cache.get(KIND, config)
        if records is None:
            absent.append(config)
        else:
            rows.extend(final_rows(config, records, fields))
    cells = pd.DataFrame(rows, columns=[*fields, "variant", *ERRORS, "diverged"])
    keys = [*(f for f in fields if f != "seed"), "variant"]
    train, test = (
        seed_summary(cells, keys, error).rename(columns={s: f"{error}_{s}" for s in ("mean", "low", "high")} | {"n": "seeds"})
        for error in ERRORS
    )
    return StoredSweep(fields, cells, train.merge(test.drop(columns="seeds"), on=keys), absent)
