"""Finished results read and drawn once per server, not once per session: a class on one lesson shares them.

Every session's page script runs in a thread of the one server process, and every thread needs
Python's interpreter lock, the event loop's too (it answers /_stcore/health and sends every
message). Thirty tabs of one lesson each building the same dozen Plotly figures (seconds of Python
apiece) kept the event loop waiting for the lock for seconds at a time (docs/RELIABILITY.md).
A finished run's records never change, so the object read from them, and each figure drawn from
that object, is built by the first session that asks and handed to every other one.

Only finished results are shared: a live or stopped run's log belongs to its session, and a
figure asked of an object that `finished` did not return is simply built. What is drawn from several
finished objects (a science page's runs beside its page-load table) names them all as its source. Nothing shared may be
changed by its users (the figures go to st.plotly_chart, which only reads them).
"""

from __future__ import annotations

import contextlib
import threading
import weakref
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
# Finished objects and what is derived from them: a trained Gradient Flow view holds ~20 (two logs, a dozen figures,
# readings, tables; the 1000-layer lesson's figures are 1 MB of JSON), so this keeps the views of about three lessons.
MAX_ENTRIES = 64


class _Shared:
    """A bounded, least-recently-used map from identity to object, each built once even when many threads ask at once."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._values: OrderedDict[Hashable, Any] = OrderedDict()
        self._building: dict[Hashable, threading.Lock] = {}
        self._lock = threading.Lock()
        self.builds = 0  # how many times a value was built: what the tests count

    def get(self, key: Hashable, build: Callable[[], T]) -> T:
        while True:
            with self._lock:
                if key in self._values:
                    self._values.move_to_end(key)
                    return self._values[key]
                busy = self._building.get(key)
                if busy is None:
                    busy = self._building[key] = threading.Lock()
                    busy.acquire()
                    break
            with busy:  # another thread builds it: wait, then read it (or build it, if that build raised)
                pass
        try:
            value = build()
            with self._lock:
                self.builds += 1
                self._values[key] = value
                while len(self._values) > self.size:
                    self._values.popitem(last=False)
            return value
        finally:
            with self._lock:
                del self._building[key]
            busy.release()

    def holds(self, key: Hashable) -> bool:
        with self._lock:
            return key in self._values

    def clear(self) -> None:
        with self._lock:
            self._values.clear()


SHARED = _Shared(MAX_ENTRIES)
# id of a shared object -> its identity, while the object lives. By id, not by the object as a weak key: a frozen
# dataclass holding DataFrames cannot be hashed, and a weak-keyed map refused it (its views were built per session).
_IDENTITIES: dict[int, Hashable] = {}


def finished(identity: Hashable, build: Callable[[], T]) -> T:
    """The one object for these finished results (`identity` says which: kind, cache key, page), built by the first caller."""
    value = SHARED.get(("finished", identity), build)
    if id(value) not in _IDENTITIES:
        with contextlib.suppress(TypeError):  # a value that cannot be weakly referenced (a str) is never a `derived` source
            weakref.finalize(value, _IDENTITIES.pop, id(value), None)  # forgotten as the object goes, before its id is reused
            _IDENTITIES[id(value)] = identity
    return value


def known(identity: Hashable) -> bool:
    """Whether `finished` holds these results now: a caller can skip fetching what it would only rebuild."""
    return SHARED.holds(("finished", identity))


def derived(source: Any, what: Hashable, build: Callable[[], T]) -> T:
    """What is computed from a shared `source` (an object `finished` returned, or a tuple of them; `what` says what: a
    chart and every argument it reads besides the source), built once; from any other source, built every time."""
    identity = _identity(source)
    if identity is None:
        return build()
    return SHARED.get(("derived", identity, what), build)


def _identity(source: Any) -> Hashable | None:
    """The identity `finished` gave `source` (a tuple: all of theirs), or None if any part of it is not shared."""
    if isinstance(source, tuple):
        parts = tuple(_identity(part) for part in source)
        return parts if parts and None not in parts else None
    return _IDENTITIES.get(id(source))
