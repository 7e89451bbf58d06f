"""The science pages' runner: several trainings (jobs) in a row, drawn live, each cached when it completes.

`ui.runner.live_training` runs one plain/residual pair; an experiment on a science page is a
list of such runs (one per depth, per L2 strength, per shortcut option), so this runner walks
the list, draws the growing `ExperimentLog` while it trains, and stores every finished job in
the shared result cache: a second visit, or a classroom opening the same link, redraws at once.
Like ui.runner, training happens in the script thread, so Stop (any rerun) simply interrupts it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any

import pandas as pd
import streamlit as st

from lab.experiments import ExperimentLog
from resnet_core.config import ExperimentConfig
from resnet_core.results import json_safe
from serving import cache
from ui import host, lessons

REFRESH_SECONDS = 0.7
Draw = Callable[[ExperimentLog, str], None]


@dataclass(frozen=True)
class Job:
    """One cached unit of an experiment: `compute()` yields raw records, `tag` labels them for the shared log."""

    kind: str  # cache kind; with `config` it is the cache key
    config: ExperimentConfig
    compute: Callable[[], Iterator[dict[str, Any]]]
    tag: Callable[[Iterable[dict[str, Any]]], Iterator[dict[str, Any]]]
    nets: int = 2  # nets trained side by side: step records per training step

    @property
    def step_records(self) -> int:
        return self.config.steps * self.nets


def jobs_key(jobs: Sequence[Job]) -> str:
    text = "|".join(f"{job.kind}:{cache.default_cache().key(job.kind, job.config)}" for job in jobs)
    return "_science_" + hashlib.sha256(text.encode()).hexdigest()[:16]


def cached_log(jobs: Sequence[Job]) -> tuple[ExperimentLog, int]:
    """The log of every job already in the cache, and how many jobs that was."""
    log, found = ExperimentLog(), 0
    for job in jobs:
        records = cache.get(job.kind, job.config)
        if records is not None:
            log.extend(job.tag(records))
            found += 1
    return log, found


def live_jobs(
    jobs: Sequence[Job], draw: Draw, *, label: str, estimate: Callable[[Sequence[Job]], float] | None = None, key: str = "science"
) -> tuple[ExperimentLog | None, bool]:
    """Run / Stop buttons, the time estimate, and the live view. Returns (log to draw or None, finished)."""
    session_key = jobs_key(jobs)
    log, found = cached_log(jobs)
    if found == len(jobs):
        st.caption("All results for these settings are in the shared cache: drawn without training.")
        return log, True
    run_col, stop_col, status_col = st.columns([1.5, 1, 3], vertical_alignment="center")
    start = run_col.button(label, type="primary", icon=":material/play_arrow:", width="stretch", key=f"{key}_run")
    stop_col.button("Stop", icon=":material/stop:", width="stretch", key=f"{key}_stop")
    missing = [job for job in jobs if cache.get(job.kind, job.config) is None]
    host.guard_sweep([job.config for job in missing])  # a hosted lab refuses, with the largest steps that fit, before any wait
    start = start or lessons.should_autostart(key, None, lambda: False)  # a lesson's run starts on open (nothing cached here)
    if estimate is not None and not start:
        seconds = estimate(missing)
        status_col.info(
            f"Estimated time on this machine: about {seconds:.0f} s for {len(missing)} training run(s) "
            f"(timed from a short probe just now){'; the rest is cached' if found else ''}.",
            icon=":material/timer:",
        )
    if start:
        bar = status_col.progress(0.0, text="preparing data and models · 0.0 s")
        log = _run(jobs, draw, bar, st.empty(), session_key)
        return log, True
    partial = st.session_state.get(session_key)
    if partial is not None:
        st.info(
            "Stopped before the end: the charts show what was computed. Press the button to run it all.", icon=":material/stop:"
        )
        return partial, False
    return (log, False) if found else (None, False)


def _run(jobs: Sequence[Job], draw: Draw, bar: Any, area: Any, session_key: str) -> ExperimentLog:
    """Train the missing jobs one after another, redrawing as records arrive; cached jobs are read."""
    began = time.monotonic()
    log = ExperimentLog()
    st.session_state[session_key] = log  # a Stop rerun finds what was computed so far
    total = sum(job.step_records for job in jobs)
    done = 0
    last_draw = 0.0
    with host.training_slot(bar):  # a hosted lab trains a few at a time; the rest wait visibly
        for job in jobs:
            records, lock = _claim_or_wait(job, bar, began)  # the cached result, or this job's lock to compute it
            if records is not None:
                log.extend(job.tag(records))
                done += job.step_records
                continue
            try:
                raw: list[dict[str, Any]] = []
                for record in job.compute():
                    raw.append(record)
                    for tagged_record in job.tag([record]):
                        log.add(tagged_record)
                    if record["kind"] != "step":
                        continue
                    done += 1
                    now = time.monotonic()
                    if now - last_draw >= REFRESH_SECONDS:
                        bar.progress(min(done / max(total, 1), 1.0), text=f"{job_label(job)} · {now - began:.1f} s")
                        with area.container():
                            draw(log, f"live{int(now * 1000)}")
                        last_draw = now
                cache.put(job.kind, job.config, raw)
            finally:
                lock.release()
    bar.progress(1.0, text=f"done: {len(jobs)} training run(s) in {time.monotonic() - began:.1f} s")
    area.empty()
    st.session_state.pop(session_key, None)
    return log


def _claim_or_wait(job: Job, bar: Any, began: float) -> tuple[list[dict[str, Any]] | None, Any]:
    """Single flight across sessions and processes: (the job's cached records, None), or (None, its lock, now held).

    While another viewer trains the same job (a class opening one lesson link), wait visibly for
    its result; each tick is a place where a rerun can interrupt the wait.
    """
    while True:
        records = cache.get(job.kind, job.config)
        if records is not None:
            return records, None
        lock = cache.default_cache().try_lock(job.kind, job.config)
        if lock is not None:
            records = cache.get(job.kind, job.config)  # finished between the two looks
            if records is None:
                return None, lock
            lock.release()
            return records, None
        bar.progress(
            0.0, text=f"another viewer is running {job_label(job)}; waiting for its result · {time.monotonic() - began:.0f} s"
        )
        time.sleep(REFRESH_SECONDS)


def job_label(job: Job) -> str:
    return f"training {job.kind}, depth {job.config.depth}, L2 {job.config.l2:g}"


def experiment_downloads(log: ExperimentLog, config: ExperimentConfig, name: str, key: str) -> None:
    """CSV of every evaluation and per-layer measurement (long format) and JSON of the whole experiment."""
    frames = {"eval": log.eval_frame(), "layer": log.layer_frame(), "block": log.block_frame()}
    csv = pd.concat([f.assign(table=t) for t, f in frames.items() if not f.empty], ignore_index=True).to_csv(index=False)
    document = {
        "config": dataclasses.asdict(config),
        "runs": {run: meta["tags"] for run, meta in log.meta.items()},
        **{t: f.to_dict(orient="records") for t, f in frames.items()},
    }
    csv_col, json_col = st.columns(2)
    csv_col.download_button(
        "Download CSV (every measurement)",
        csv,
        file_name=f"{name}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"{key}_csv",
        on_click="ignore",
    )
    json_col.download_button(
        "Download JSON (whole experiment)",
        json.dumps(json_safe(document), indent=1, default=str),
        file_name=f"{name}.json",
        mime="application/json",
        icon=":material/download:",
        key=f"{key}_json",
        on_click="ignore",
    )
