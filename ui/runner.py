"""The live training runner: `train(config)` driven by the script thread, drawn while it runs, cached when done.

Why the script thread owns the loop: a Stop click or any widget change makes Streamlit rerun the
script, and the rerun interrupts the running script at its next element update (every progress
tick here). Each record is computed in a helper thread only so that the script thread can keep
the elapsed time ticking through a slow setup or step; it asks for one record at a time, so after
an interruption the helper finishes at most the step in hand and nothing keeps burning CPU.

Shared results: a finished run goes to `serving.cache` (kind "train"), so the same link
later, in any session or process, redraws instantly. While one session trains a config,
another asking for the same config waits for that result instead of training it again.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import streamlit as st

from resnet_core.config import ExperimentConfig
from resnet_core.models import Stack
from resnet_core.results import RunLog
from resnet_core.training import train
from serving import cache
from ui import host, lessons
from ui.echo import describe

REFRESH_SECONDS = 1.0  # charts redraw once a second while training (less often when a redraw is slow)
DRAW_SHARE = 0.33  # at most this share of the time goes to drawing; the browser often shares the CPU too
TICK_SECONDS = 0.1  # progress bar updates
RUNS_KEY = "_runs"  # session_state: {cache key: RunLog}, finished or stopped runs of this session
MAX_SESSION_RUNS = 6
Draw = Callable[[RunLog, str], None]  # draw(log, key_prefix): key_prefix keeps element keys unique per redraw
OnFinish = Callable[[ExperimentConfig, dict[str, Stack]], None]  # sees the trained models once, e.g. to cache a boundary


def run_key(config: ExperimentConfig) -> str:
    return cache.default_cache().key("train", config)


def cached_run(config: ExperimentConfig) -> RunLog | None:
    """A finished run of this config from this session or the shared cache."""
    log = st.session_state.get(RUNS_KEY, {}).get(run_key(config))
    if log is not None and log.finished:
        return log
    records = cache.get("train", config)
    if records is None:
        return None
    log = RunLog(config).extend(records)
    _remember(log)  # later reruns (scrubbing, downloads) skip re-reading the file
    return log


def _remember(log: RunLog) -> None:
    runs: dict[str, RunLog] = st.session_state.setdefault(RUNS_KEY, {})
    runs.pop(run_key(log.config), None)
    runs[run_key(log.config)] = log
    while len(runs) > MAX_SESSION_RUNS:
        runs.pop(next(iter(runs)))


def progress_text(log: RunLog, elapsed: float) -> str:
    """ "step k / N · elapsed s", the line the progress bar carries from the first second."""
    if not log.meta:
        return f"preparing data and models · {elapsed:.1f} s"
    return f"step {max(log.last_step + 1, 0)} / {log.config.steps} · {elapsed:.1f} s"


def describe_outcome(log: RunLog) -> list[str]:
    """One line per notable end: a diverged net (with its step) or a run stopped early."""
    lines = [
        f"{variant} diverged at step {step}: its loss stopped being a finite number; its charts end there."
        for variant, step in sorted(log.diverged.items())
    ]
    if log.stopped:
        lines.append(f"Stopped at step {log.last_step + 1} of {log.config.steps}; the charts show what was computed.")
    return lines


def live_training(
    config: ExperimentConfig, draw: Draw, *, label: str = "Train both nets", on_finish: OnFinish | None = None
) -> RunLog | None:
    """Train / Stop buttons and the live view. Returns the run to draw (finished or stopped), or None before any.

    `draw(log, key)` is called repeatedly during training into one placeholder; the caller draws the
    returned log once more afterwards, with its interactive extras (sliders). `on_finish(config, models)`
    runs after a completed training, before the result is cached.
    """
    train_col, stop_col, status_col = st.columns([1, 1, 3], vertical_alignment="center")
    start = train_col.button(label, type="primary", icon=":material/play_arrow:", width="stretch")
    stop = stop_col.button("Stop", icon=":material/stop:", width="stretch")
    log = st.session_state.get(RUNS_KEY, {}).get(run_key(config))
    start = start or (log is None and lessons.should_autostart("train", config, lambda: cached_run(config) is not None))
    if start:
        bar = status_col.progress(0.0, text="preparing data and models · 0.0 s")
        try:
            return _train_live(config, draw, bar, st.empty(), on_finish)
        except (ValueError, RuntimeError) as error:  # e.g. a missing data file, or out of memory: a message, never a traceback
            st.error(f"Training could not run: {describe(error)}", icon=":material/block:")
            return None
    if log is not None and not log.finished:
        log.stopped = True  # this rerun (Stop, or any other click) interrupted the run: keep its records
    if log is None or not (log.finished or log.stopped):
        log = cached_run(config)
    if log is None and stop:
        status_col.info("Nothing is training. Press Train to start.")
    return log


def _train_live(config: ExperimentConfig, draw: Draw, bar: Any, area: Any, on_finish: OnFinish | None) -> RunLog:
    """Train (or wait for another session training the same config), redrawing as records arrive."""
    began = time.monotonic()
    lock = cache.default_cache().try_lock("train", config)
    if lock is None:
        return _wait_for_other(config, draw, bar, area, began, on_finish)
    try:
        with host.training_slot(bar):  # a hosted lab trains a few at a time; the rest wait visibly
            log, records, models = RunLog(config), [], {}
            _remember(log)
            last_tick = last_draw = draw_seconds = 0.0
            redraws = 0

            def tick() -> None:  # each element update is also where a rerun can interrupt us
                elapsed = time.monotonic() - began
                bar.progress(min((log.last_step + 1) / max(config.steps, 1), 1.0), text=progress_text(log, elapsed))

            for record in with_heartbeat(train(config, keep_models=models), tick):
                log.add(record)
                records.append(record)
                now = time.monotonic()
                if now - last_tick >= TICK_SECONDS:
                    tick()
                    last_tick = now
                if record["kind"] == "step" and now - last_draw >= max(REFRESH_SECONDS, draw_seconds / DRAW_SHARE - draw_seconds):
                    redraws += 1
                    with area.container():
                        draw(log, f"live{redraws}")
                    last_draw = time.monotonic()
                    draw_seconds = last_draw - now  # a slow machine redraws less often: drawing never crowds out training
            if on_finish is not None:
                on_finish(config, models)
            cache.put("train", config, records)
    finally:
        lock.release()
    bar.progress(1.0, text=f"done: {config.steps} steps in {time.monotonic() - began:.1f} s")
    area.empty()
    return log


def with_heartbeat(records: Iterator[dict[str, Any]], beat: Callable[[], None]) -> Iterator[dict[str, Any]]:
    """Yield `records` one by one, each computed in a helper thread while this thread calls `beat` every tick."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="lab-train") as pool:
        while True:
            future = pool.submit(next, records, None)
            while True:
                try:
                    record = future.result(timeout=TICK_SECONDS)
                    break
                except TimeoutError:
                    beat()
            if record is None:
                return
            yield record


def _wait_for_other(
    config: ExperimentConfig, draw: Draw, bar: Any, area: Any, began: float, on_finish: OnFinish | None
) -> RunLog:
    """Another session holds this config's lock: poll the cache (each tick lets a rerun interrupt us)."""
    while True:
        records = cache.get("train", config)
        if records is not None:
            log = RunLog(config).extend(records)
            _remember(log)
            return log
        lock = cache.default_cache().try_lock("train", config)
        if lock is not None:  # the other run was stopped before finishing: train it here
            lock.release()
            return _train_live(config, draw, bar, area, on_finish)
        bar.progress(
            0.0, text=f"another viewer is training this exact setting; waiting for its result · {time.monotonic() - began:.0f} s"
        )
        time.sleep(REFRESH_SECONDS)
