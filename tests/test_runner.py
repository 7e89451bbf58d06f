"""What the live runner costs the server per session: redraws share one budget, the progress bar sends only news."""

from __future__ import annotations

import threading

import pytest

from ui import runner
from ui.runner import DRAW_SHARE, REFRESH_SECONDS, WATCHERS, redraw_gap


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
    monkeypatch.setattr(runner.time, "monotonic", lambda: clock[0])
    bar = Bar()
    progress = runner._Progress(bar, began=100.0)
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
