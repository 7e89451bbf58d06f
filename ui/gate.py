"""At most RUNNING page runs compute at once; the others wait for a slot, off the GIL.

Streamlit answers every request (`/_stcore/health`, the websocket, static files) on its main thread, which
needs the GIL like every page run's thread. With thirty sessions drawing at once, the main thread won one
GIL hand-off in about thirty, and health checks took seconds (docs/RELIABILITY.md). A page run holds a slot
while it computes (app.py: `page_run`) and gives it back while it waits for anything (`waiting`): a job's
records, another session building a view it will share. It never waits holding a slot, so no page waits on
a page that waits on it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator

RUNNING = 2  # the GIL runs one thread at a time anyway; a second slot lets a short page run pass a long one
_SLOTS = threading.BoundedSemaphore(RUNNING)
_HELD = threading.local()  # whether this thread holds a slot now


def holding() -> bool:
    return getattr(_HELD, "slot", False)


@contextlib.contextmanager
def page_run() -> Iterator[None]:
    """Hold a slot for the page run inside (released however it ends: a rerun, a stop, an error)."""
    _SLOTS.acquire()
    _HELD.slot = True
    try:
        yield
    finally:
        if holding():
            _HELD.slot = False
            _SLOTS.release()


@contextlib.contextmanager
def waiting() -> Iterator[None]:
    """Give this thread's slot (if any) to another page run while waiting, and take one again after."""
    held = holding()
    if held:
        _HELD.slot = False
        _SLOTS.release()
    try:
        yield
    finally:
        if held:
            _SLOTS.acquire()
            _HELD.slot = True
