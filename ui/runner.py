"""The one live runner: 1..n engine jobs, computed in worker processes, drawn while they stream in, cached when done.

Every page uses it: Gradient Flow is one run (a pair), a science page a list of runs (one per
depth, per L2 strength, ...). The engine never runs in this process: each run is a
serving.jobs request, so a crash or a runaway setting ends that run with a message and every
other visitor's session goes on. Identical requests share one job, so a class opening one
link computes it once and every tab watches the same progress.

Stop cancels the jobs for real. Any other rerun (a changed control, a closed tab) just stops
watching: a job nobody watches any more is cancelled by the executor after a few seconds,
while the same view after a harmless rerun picks its running job up again.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

import streamlit as st

from resnet_core.config import ExperimentConfig
from serving import cache
from serving.cost import estimate_text
from serving.job import CANCELLED, DONE, Job, JobRequest
from serving.jobs import executor
from ui import host, lessons, shared
from ui.echo import plain, refused
from ui.pacing import WATCHERS, Progress, redraw_gap, time_left

TICK_SECONDS = 0.1  # a waiting loop wakes this often (and on every record): where a Stop or a rerun can interrupt it
ACTIVE_KEY = "_active_jobs"  # session_state: {view key: [Job]} started by this session and not yet finished or stopped
STOPPED_KEY = "_stopped_logs"  # session_state: {view key: log} of runs stopped before the end


T = TypeVar("T")


class Log(Protocol):
    def add(self, record: dict[str, Any]) -> None: ...


Tag = Callable[[Iterable[dict[str, Any]]], Iterator[dict[str, Any]]]


@dataclass(frozen=True)
class Run:
    """One job of a view and how its records join the view's log (a science page tags each run's records)."""

    request: JobRequest
    tag: Tag = iter
    step_records: int = 0  # step records the run yields: progress is their share of the total
    costs_as: tuple[ExperimentConfig, ...] = ()  # the pairs it trains, for the host's budget (default: its config)

    @property
    def pairs(self) -> tuple[ExperimentConfig, ...]:
        return self.costs_as or (self.request.config,)


class EngineStopped(Exception):
    """A job ended without its result: the message says why, for the page."""


def show_refusal(error: Exception, what: str = "experiment") -> None:
    """The one way a page says the engine refused or stopped on its settings (ui.echo.refused's sentence)."""
    st.error(refused(error, what), icon=":material/block:")


def view_key(runs: Sequence[Run]) -> str:
    return "|".join(f"{run.request.identity}" for run in runs)


def cached_records(request: JobRequest) -> list[dict[str, Any]] | None:
    return cache.get(request.kind, request.config)


def compute(request: JobRequest, what: str) -> list[dict[str, Any]]:
    """Page-load work (the init gradients, a table): its cached records, or a worker's, with a progress line while waiting."""
    records = cached_records(request)
    if records is not None:
        return records
    job, line = executor().submit(request), st.empty()
    progress = Progress(line, time.monotonic())
    with job.watching():
        while not job.finished:
            progress.show(0.0, waiting_text(job) or what)
            job.wait(TICK_SECONDS)
    line.empty()
    if job.state != DONE:
        raise EngineStopped(job.message)
    return job.records


def shared_result(request: JobRequest, what: str, read: Callable[[list[dict[str, Any]]], T], page: str) -> T:
    """compute()'s records read once per server (`read(records)`, e.g. into a RunLog) and shared by every session of
    `page` (ui.shared): each session still waits for the job with its own progress line, but none reads or draws
    the finished result again."""
    identity = (page, request.identity)
    records = None if shared.known(identity) else compute(request, what)
    return shared.finished(identity, lambda: read(records if records is not None else compute(request, what)))


def waiting_text(job: Job) -> str:
    """What a queued job is waiting for, or "" once it runs."""
    if job.state != "queued":
        return ""
    ahead = executor().ahead_of(job)
    return f"waiting for a free engine ({f'{ahead} ahead' if ahead else 'next in line'})"


def stopped_message(job: Job) -> str:
    return f"The engine stopped on this setting: {plain(job.message)}."


def live_runs(
    runs: Sequence[Run],
    new_log: Callable[[], Log],
    draw: Callable[[Any, str], None],
    *,
    label: str,
    key: str,
    lesson_config: ExperimentConfig | None = None,
    shared_as: str | None = None,
) -> tuple[Any | None, bool]:
    """Run / Stop buttons, the live view and its progress with the time left. Returns (log to draw or None, finished).

    `draw(log, element_key)` is called repeatedly into one placeholder while records arrive; the
    caller draws the returned log once more afterwards, with its interactive extras. `key` names
    the view's runner for lessons that start it on open (`lesson_config`: the settings a lesson
    must still have for that). `shared_as` (the page's name): a finished log is one object for every session of
    the server (ui.shared), so its figures are drawn once. It is known by the page's name and its runs' identities, so
    a page that shares must tag a run's records by its request alone (a depth, seed, option its config holds).
    """
    view = view_key(runs)
    # A view the server already shares is finished: its cached records need not be read (and decoded) again to know it.
    done = shared_as is not None and shared.known((shared_as, view))
    missing = [] if done else [run for run in runs if cached_records(run.request) is None]
    refusal = host.training_refusal([pair for run in missing for pair in run.pairs])  # over this host's budget: Train off
    run_col, stop_col, status_col = st.columns([1.5, 1, 3], vertical_alignment="center")
    start = run_col.button(
        label, type="primary", icon=":material/play_arrow:", width="stretch", key=f"{key}_run", disabled=refusal is not None
    )
    stop = stop_col.button("Stop", icon=":material/stop:", width="stretch", key=f"{key}_stop")
    active: dict[str, list[Job]] = st.session_state.setdefault(ACTIVE_KEY, {})
    stopped: dict[str, Any] = st.session_state.setdefault(STOPPED_KEY, {})
    if stop and view in active:
        jobs = active.pop(view)
        complete = _stop(jobs)
        if complete and not all(job.stored for job in jobs):  # complete, but the cache did not keep it: shown as is
            return _finished(shared_as, view, lambda: _log_so_far(runs, new_log, jobs)), True
        if not complete:
            stopped[view] = _log_so_far(runs, new_log, jobs)
        missing = [run for run in missing if cached_records(run.request) is None]  # a Stop after the end: all stored
    if not missing and not start:
        where = "held by this server" if done else "in the shared cache"  # a log over the cache's budget is only held
        st.caption(f"All results for these settings are {where}: drawn without computing.")
        return _finished(shared_as, view, lambda: _cached_log(runs, new_log)), True
    if refusal is not None:
        st.error(
            f"{label} is off: training these settings is too large for this hosted lab: {refusal} "
            "Change them in the sidebar to train; the views above need no training.",
            icon=":material/block:",
        )
        return (_cached_log(runs, new_log) if len(missing) < len(runs) else None), False
    start = start or view in active or (not stop and lessons.should_autostart(key, lesson_config, lambda: not missing))
    if start:
        stopped.pop(view, None)
        bar = status_col.progress(0.0, text="starting · 0.0 s")
        with WATCHERS.one_more():
            log, finished = _follow(runs, new_log, draw, bar, st.empty(), view)
        return (_finished(shared_as, view, lambda: log) if finished else log), finished
    if view in stopped:
        st.info(
            "Stopped before the end: the charts show what was computed. Press the button to run it all.", icon=":material/stop:"
        )
        return stopped[view], False
    if stop:
        status_col.info("Nothing is running. Press the button to start.")
    else:
        count = (
            f"{len(missing)} of {len(runs)} training runs to compute{'; the rest is cached' if len(missing) < len(runs) else ''}. "
            if len(runs) > 1
            else ""
        )
        estimate = estimate_text([run.pairs for run in missing], host.limits().workers)
        status_col.info(f"{count}{estimate} The time left shows beside the progress once it runs.", icon=":material/timer:")
    partial = _cached_log(runs, new_log) if len(missing) < len(runs) else None
    return partial, False


def _finished(shared_as: str | None, view: str, read: Callable[[], Log]) -> Log:
    """A finished view's log: the server's one copy when the page shares it (the first session's), else `read()`."""
    return read() if shared_as is None else shared.finished((shared_as, view), read)


def _stop(jobs: Sequence[Job]) -> bool:
    """Cancel the jobs and wait for their workers' answers (one step; the executor kills a worker deaf for longer).

    True when every job had computed all it had to anyway (the Stop came after the last record), whether or not the
    cache kept it (an entry larger than the cache's budget is not stored).
    """
    for job in jobs:
        executor().cancel(job)
    for job in jobs:
        while not job.finished:
            job.wait(TICK_SECONDS)
    return all(job.state == DONE for job in jobs)


def _cached_log(runs: Sequence[Run], new_log: Callable[[], Log]) -> Log:
    return _log_so_far(runs, new_log, [])


def _log_so_far(runs: Sequence[Run], new_log: Callable[[], Log], jobs: Sequence[Job]) -> Log:
    """The cached runs' records and what the given jobs (stopped or finished) computed, in the runs' order."""
    log, computed = new_log(), {job.request.identity: job.records for job in jobs}
    for run in runs:
        for record in run.tag(cached_records(run.request) or computed.get(run.request.identity, [])):
            log.add(record)
    return log


def _follow(
    runs: Sequence[Run], new_log: Callable[[], Log], draw: Callable[[Any, str], None], bar: Any, area: Any, view: str
) -> tuple[Any, bool]:
    """Submit every missing run at once (the executor runs as many in parallel as the host has workers) and stream
    their records into the log, redrawing as they come.

    Redraws are spaced so that live drawing takes at most DRAW_SHARE of one core summed over every
    session following a run: a class of thirty on one lesson redraws less often, not thirty times as much.
    """
    began, log = time.monotonic(), new_log()
    progress = Progress(bar, began)
    active, stopped = st.session_state[ACTIVE_KEY], st.session_state[STOPPED_KEY]
    total = max(sum(run.step_records for run in runs), 1)
    done = computed = 0  # step records in hand / of them, computed by this call's jobs (the rate of the time left)
    last_step = -1
    jobs: dict[int, Job] = {}
    for number, run in enumerate(runs):
        records = cached_records(run.request)
        if records is None:
            jobs[number] = executor().submit(run.request)
            continue
        for record in run.tag(records):
            log.add(record)
        done += run.step_records
    active[view] = list(jobs.values())
    seen = dict.fromkeys(jobs, 0)
    last_draw = draw_seconds = 0.0
    with contextlib.ExitStack() as watching:
        for job in jobs.values():
            watching.enter_context(job.watching())  # every job of this view is watched, not only the one waited on
        while True:
            finished = all(job.finished for job in jobs.values())  # read before the records: a finished job's are all in hand
            for number, job in jobs.items():
                for record in runs[number].tag(job.records[seen[number] :]):
                    log.add(record)
                    if record.get("kind") == "step":
                        done, computed, last_step = done + 1, computed + 1, max(last_step, record["step"])
                seen[number] = len(job.records)
            failed = next((job for job in jobs.values() if job.finished and job.state != DONE), None)
            now = time.monotonic()
            progress.show(
                min(done / total, 1.0),
                _status(runs, jobs, last_step),
                lambda seconds, c=computed, left=total - done: time_left(c, left, seconds),
            )
            if finished or failed:
                break
            if any(seen.values()) and now - last_draw >= redraw_gap(draw_seconds, WATCHERS.count):
                with area.container():
                    draw(log, f"live{int(now * 1000)}")
                last_draw = time.monotonic()
                draw_seconds = last_draw - now  # a slow machine redraws less often: drawing never crowds out the stream
            pending = [job for job in jobs.values() if not job.finished]  # one may have finished since `finished` was read
            if pending:
                pending[0].wait(TICK_SECONDS)
    active.pop(view, None)
    if failed is not None:
        for job in jobs.values():
            executor().cancel(job)
        area.empty()
        if failed.state == CANCELLED:
            stopped[view] = log
            bar.progress(min(done / total, 1.0), text=f"stopped after {time.monotonic() - began:.1f} s")
        else:
            st.error(stopped_message(failed), icon=":material/block:")
        return log, False
    what = f"{runs[0].request.config.steps} steps" if len(runs) == 1 else f"{len(runs)} training runs"
    bar.progress(1.0, text=f"done: {what} in {time.monotonic() - began:.1f} s")
    area.empty()
    if len(runs) > 1:  # several jobs' records arrived interleaved: the runs' order, as a fresh server draws (and shares) it
        log = _log_so_far(runs, new_log, list(jobs.values()))
    return log, True


def _status(runs: Sequence[Run], jobs: dict[int, Job], last_step: int) -> str:
    """One line: a lone run's step, or how many of several runs are done, running and waiting."""
    if not jobs:
        return "all cached"
    if len(runs) == 1:
        job = next(iter(jobs.values()))
        return waiting_text(job) or f"step {last_step + 1} / {runs[0].request.config.steps}"
    states = [job.state for job in jobs.values()]
    running, queued = states.count("running"), states.count("queued")
    finished = len(runs) - running - queued
    return f"{finished} of {len(runs)} runs done, {running} running" + (f", {queued} waiting for a free engine" if queued else "")
