"""What a job is: the request (what to compute, its identity), and the job every identical request shares.

serving.jobs runs them in worker processes; a page, the CLI's sweep and a Ray backend read a job's state and
records as they stream in, and wait on it.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from resnet_core.config import ExperimentConfig
from serving.keys import result_key

QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass(frozen=True)
class JobRequest:
    """What to compute: `target` ("module:function") called in a worker as function(config, *args), yielding records."""

    kind: str  # with `config`, the identity of the result: its cache key, and what identical requests share
    config: ExperimentConfig
    target: str
    args: tuple[Any, ...] = ()

    @property
    def identity(self) -> tuple[str, str]:
        return self.kind, result_key(self.kind, self.config)


@dataclass(eq=False)
class Job:
    """One request's progress, shared by everyone who asked for it; records arrive from the worker as computed."""

    request: JobRequest
    records: list[dict[str, Any]] = field(default_factory=list)
    state: str = QUEUED
    message: str = ""  # why a failed job failed, in words for the page
    stored: bool = False  # its records are in the result cache (written by this job, or read from it)
    last_touched: float = field(default_factory=time.monotonic)
    watchers: int = 0  # page runs inside `watching()` now: a watched job is never abandoned, however starved they are
    stopping: bool = False  # told to stop, its worker's answer not yet in: no new request joins it
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)

    def touch(self) -> None:
        self.last_touched = time.monotonic()

    @contextlib.contextmanager
    def watching(self) -> Iterator[None]:
        """While inside, the job counts as waited for, whether or not the watcher gets the CPU to touch it.

        On a server starved of CPU or of the interpreter lock (thirty tabs drawing, the host busy), a
        page's thread can go 15 s without running; a rule on the time since the last touch alone could
        then cancel a job every tab was still waiting for, and the next run would compute it again. A
        closed tab or a rerun leaves the block (Streamlit stops the script at its next message), and
        the idle time counts from then.
        """
        with self.changed:
            self.watchers += 1
        try:
            yield
        finally:
            with self.changed:
                self.watchers -= 1
            self.touch()

    def wait(self, seconds: float) -> None:
        """Block until the job changes (a record, a new state) or `seconds` pass; touches the job."""
        self.touch()
        with self.changed:
            if not self.finished:
                self.changed.wait(seconds)

    def _update(self, state: str | None = None, record: dict[str, Any] | None = None, message: str = "") -> None:
        with self.changed:
            if record is not None:
                self.records.append(record)
            if state is not None:
                self.state = state
            self.message = message or self.message
            self.changed.notify_all()
