"""The live runner: redraws of every session share one budget, the progress bar sends only news, a late Stop loses nothing."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from resnet_core.config import ExperimentConfig
from serving import cache
from serving.job import DONE, JobRequest
from serving.jobs import executor
from tests import job_targets
from ui import pacing
from ui.pacing import DRAW_SHARE, REFRESH_SECONDS, WATCHERS, redraw_gap
from ui.runner import ACTIVE_KEY, Run, view_key


@pytest.mark.parametrize("draw_seconds", [0.01, 0.1, 0.3, 1.5])
@pytest.mark.parametrize("watchers", [1, 2, 10, 30, 60])
def test_live_redraws_of_every_session_together_stay_within_the_drawing_share(draw_seconds: float, watchers: int) -> None:
    gap = redraw_gap(draw_seconds, watchers)
    assert gap >= REFRESH_SECONDS  # never more often than the refresh rate, however fast the drawing
    assert watchers * draw_seconds / (draw_seconds + gap) <= DRAW_SHARE + 1e-9


def test_a_lone_fast_session_redraws_at_the_refresh_rate() -> None:
    assert redraw_gap(0.05, 1) == REFRESH_SECONDS


def test_watchers_count_the_sessions_following_a_run_and_forget_them_after() -> None:
    before, entered, leave = WATCHERS.count, threading.Barrier(5), threading.Event()

    def follow() -> None:
        with WATCHERS.one_more():
            entered.wait()
            leave.wait()

    threads = [threading.Thread(target=follow) for _ in range(4)]
    for thread in threads:
        thread.start()
    entered.wait()
    assert WATCHERS.count == before + 4  # all four are inside
    leave.set()
    for thread in threads:
        thread.join()
    assert WATCHERS.count == before
    with pytest.raises(RuntimeError), WATCHERS.one_more():
        raise RuntimeError("a failed draw")
    assert WATCHERS.count == before


class Bar:
    def __init__(self) -> None:
        self.sent: list[tuple[float, str]] = []

    def progress(self, value: float, text: str) -> None:
        self.sent.append((value, text))


def test_the_progress_bar_is_sent_when_the_step_moves_or_the_clock_gains_a_second(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = [100.0]
    monkeypatch.setattr(pacing.time, "monotonic", lambda: clock[0])
    bar = Bar()
    progress = pacing.Progress(bar, began=100.0)
    for tenth in range(9):  # nine wake-ups within the first second, nothing new
        clock[0] = 100.0 + tenth / 10
        progress.show(0.1, "step 1 / 60")
    assert bar.sent == [(0.1, "step 1 / 60 · 0.0 s")]
    clock[0] = 100.875
    progress.show(0.2, "step 2 / 60")  # the step moved
    clock[0] = 101.25
    progress.show(0.2, "step 2 / 60")  # a second has passed since the start
    progress.show(0.2, "step 2 / 60")
    assert [text for _, text in bar.sent] == ["step 1 / 60 · 0.0 s", "step 2 / 60 · 0.9 s", "step 2 / 60 · 1.2 s"]


def late_stop_page() -> None:
    """A page with one run of tests/job_targets.py:count_then_wait (an AppTest script: it imports its own names)."""
    import streamlit as st

    from resnet_core.config import ExperimentConfig
    from serving.job import JobRequest
    from ui import runner

    class Records(list):
        def add(self, record: dict) -> None:
            self.append(record)

    config = ExperimentConfig(depth=8, width=4, steps=3)
    request = JobRequest("late-stop", config, "tests.job_targets:count_then_wait", (3, st.session_state["gate"]))
    log, finished = runner.live_runs(
        [runner.Run(request, step_records=3)], Records, lambda log, key: None, label="Run", key="late"
    )
    st.markdown(f"finished: {finished}, records: {len(log or [])}")


def stop_after_the_last_record(tmp_path: Path) -> tuple[AppTest, JobRequest]:
    """late_stop_page with its job at its last record, then Stop pressed: the run's end is held until the Stop is sent."""
    gate = tmp_path / "gate"
    at = AppTest.from_function(late_stop_page, default_timeout=120)
    at.session_state["gate"] = str(gate)
    at.run()
    request = JobRequest(
        "late-stop", ExperimentConfig(depth=8, width=4, steps=3), "tests.job_targets:count_then_wait", (3, str(gate))
    )
    job = executor().submit(request)
    while not job_targets.waiting(gate).exists():  # past its last record: the Stop comes after the end
        job.wait(0.1)

    def open_the_gate_once_stopped() -> None:
        while not job.message:  # "stopped": the executor has sent the Stop
            job.touch()
            time.sleep(0.01)
        gate.touch()

    threading.Thread(target=open_the_gate_once_stopped, daemon=True).start()
    at.session_state[ACTIVE_KEY] = {view_key([Run(request)]): [job]}  # as the script run the Stop click interrupted left it
    at.button(key="late_stop").click().run()
    assert not at.exception
    assert job.state == DONE
    return at, request


@pytest.mark.usefixtures("cache_dir")
def test_a_stop_after_the_last_record_shows_the_run_finished_and_stores_it(tmp_path: Path) -> None:
    """Issue 14: a Stop that arrived after the worker had sent every record showed "Stopped before the end" and
    stored nothing, although all of it had been computed."""
    at, request = stop_after_the_last_record(tmp_path)
    assert not any("Stopped before the end" in i.value for i in at.info)
    assert "finished: True, records: 3" in [m.value for m in at.markdown]
    assert [r["step"] for r in cache.get("late-stop", request.config)] == [0, 1, 2]


@pytest.mark.usefixtures("cache_dir")
def test_a_late_stop_of_a_run_the_cache_does_not_keep_still_shows_it_finished(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Review: when the cache refused the complete run (an entry over its budget), the page said "Nothing is running"
    and dropped every record it had computed."""
    monkeypatch.setattr(cache, "put", lambda *args, **kwargs: False)
    at, request = stop_after_the_last_record(tmp_path)
    assert cache.get("late-stop", request.config) is None
    assert not any("Stopped before the end" in i.value or "Nothing is running" in i.value for i in at.info)
    assert "finished: True, records: 3" in [m.value for m in at.markdown]
