"""Finished results are read and drawn once per server (ui.shared), not once per session.

Thirty tabs of one lesson each building the same figures held the interpreter lock the event loop
needs for /_stcore/health (docs/RELIABILITY.md, "Load"): these tests count builds, never time them.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest
from conftest import chart_specs
from streamlit.testing.v1 import AppTest

import ui.presenter
from ui import shared

APP = str(Path(__file__).resolve().parent.parent / "app.py")
TINY = {"arch": "mlp", "dataset": "moons", "depth": "4", "width": "4", "steps": "12", "n_samples": "200", "eval_every": "6"}


class Log:
    """Stands for a RunLog: any object that can be weakly referenced."""


def test_threads_asking_at_once_build_a_finished_result_once() -> None:
    arrived, builds, threads = [], [], 8

    def build() -> object:
        deadline = time.monotonic() + 10  # the others arrive meanwhile; a safeguard, not a measurement
        while len(arrived) < threads and time.monotonic() < deadline:
            time.sleep(0.01)
        builds.append(1)
        return Log()

    results = []

    def ask() -> None:
        arrived.append(1)
        results.append(shared.finished(("test", "at-once"), build))

    workers = [threading.Thread(target=ask) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    assert len(builds) == 1
    assert len({id(result) for result in results}) == 1


def test_a_build_that_raised_is_not_kept_and_the_next_caller_builds() -> None:
    def fail() -> object:
        raise RuntimeError("stopped")

    with pytest.raises(RuntimeError):
        shared.finished(("test", "fails"), fail)
    assert not shared.known(("test", "fails"))
    assert shared.finished(("test", "fails"), lambda: "built") == "built"


def test_what_is_derived_from_a_shared_source_is_built_once_and_from_any_other_every_time() -> None:
    builds: list[str] = []
    source = shared.finished(("test", "source"), Log)
    for _ in range(3):
        shared.derived(source, "chart", lambda: builds.append("shared"))
        shared.derived(Log(), "chart", lambda: builds.append("own"))  # a live or stopped run's log: its session's own
        shared.derived(None, "chart", lambda: builds.append("none"))  # a figure drawn from no log at all
    assert builds == ["shared", "own", "none", "own", "none", "own", "none"]


def test_the_store_is_bounded() -> None:
    store = shared._Shared(size=3)
    for key in range(10):
        store.get(key, lambda key=key: key)
    assert [key for key in range(10) if store.holds(key)] == [7, 8, 9]


def test_a_second_session_draws_the_finished_view_without_building_a_figure(monkeypatch: pytest.MonkeyPatch) -> None:
    """Session one trains; session two opens the same link and builds no figure (every figure goes through
    presenter.screen_figure); a third, after the shared store is emptied, builds them all again, and draws the same."""
    built = []
    real = ui.presenter.screen_figure
    monkeypatch.setattr(ui.presenter, "screen_figure", lambda fig: built.append(1) or real(fig))

    def open_page() -> AppTest:
        at = AppTest.from_file(APP, default_timeout=180)
        for key, value in TINY.items():
            at.query_params[key] = value
        return at.run()

    first = open_page()
    next(b for b in first.button if b.label == "Train both nets").click().run()
    assert not first.exception and any(s["title"].startswith("Decision boundary") for s in chart_specs(first))
    built.clear()
    second = open_page()
    assert not second.exception
    assert len(chart_specs(second)) >= 12 and built == []
    shared.SHARED.clear()
    third = open_page()
    assert len(built) == len(chart_specs(third))
    assert chart_specs(third) == chart_specs(second)
