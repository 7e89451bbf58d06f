"""The pace of a live view: how often its charts redraw and when its progress line is sent.

Thirty tabs following one run share the server's CPU and its one event loop (docs/RELIABILITY.md, "Load"), so
live drawing is budgeted over every session together and the progress bar only sends news.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

REFRESH_SECONDS = 1.0  # charts redraw about once a second while records stream in (less often when drawing is slow)
DRAW_SHARE = 0.33  # at most this share of one core goes to live drawing, summed over every session of this server


class Watchers:
    """How many sessions of this server are following a run live: they share its CPU for drawing."""

    def __init__(self) -> None:
        self.count, self._lock = 0, threading.Lock()

    @contextlib.contextmanager
    def one_more(self) -> Iterator[None]:
        with self._lock:
            self.count += 1
        try:
            yield
        finally:
            with self._lock:
                self.count -= 1


WATCHERS = Watchers()


def redraw_gap(draw_seconds: float, watchers: int) -> float:
    """Seconds from the end of one live redraw to the next, so that `watchers` sessions each drawing for
    `draw_seconds` use at most DRAW_SHARE of one core together (a slow draw already counts the contention)."""
    return max(REFRESH_SECONDS, draw_seconds * watchers / DRAW_SHARE - draw_seconds)


class Progress:
    """A progress bar sent to the browser only when its step moves or its clock gains a second.

    Thirty tabs of one lesson polling ten times a second would otherwise send 300 messages a
    second through the server, each saying only that a tenth of a second had passed.
    """

    def __init__(self, element: Any, began: float) -> None:
        self.element, self.began, self.shown = element, began, (-1.0, "", -1)

    def show(self, value: float, text: str, after: Callable[[float], str] = lambda seconds: "") -> None:
        """`after(elapsed seconds)` ends the line (the time left), read only when the bar is sent."""
        seconds = time.monotonic() - self.began
        if (value, text, int(seconds)) != self.shown:
            self.element.progress(value, text=f"{text} · {seconds:.1f} s{after(seconds)}")
            self.shown = (value, text, int(seconds))


def time_left(computed: int, left: int, elapsed: float) -> str:
    """ ", about 12 s left" from the rate of the steps these jobs computed so far, once there are a few."""
    if computed < max(left // 20, 1) or not left:
        return ""
    return f", about {elapsed / computed * left:.0f} s left"
