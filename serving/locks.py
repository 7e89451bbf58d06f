"""A lock per result key that holds across threads and processes: how a result is claimed before it is computed.

The executor (serving/jobs.py) claims a key before a worker computes it, so two server processes,
or a server and the CLI's sweep, sharing one cache directory compute a config once; the cache's
evictor takes one too, so one process evicts at a time.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path

from filelock import FileLock, Timeout


class KeyLock:
    """One key's lock across threads (an in-process lock) and processes (a file lock), whose holder deletes its file.

    The holder unlinks the lock file before releasing it, so the locks folder holds only the files of
    locks held now (or left by a killed process, swept by `ResultCache.sweep`). That is safe because
    filelock (>= 4) checks, once it holds a flock, that the file is still linked and otherwise reopens
    the path: a waiter that opened the old file never shares the lock with one that opened the new
    file. Deleting a lock file one does *not* hold would break mutual exclusion, so nothing here does.
    When the file cannot be created (a read-only cache), the in-process lock alone is used: single
    flight within this process, none across processes. Any thread may release it (a monitor thread
    claims a key, the thread that sees the job end releases it).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        with _MEMORY_GUARD:
            self._memory = _MEMORY_LOCKS.setdefault(str(path), threading.Lock())
        self._file: FileLock | None = None

    def acquire(self, blocking: bool = True) -> bool:
        """True once held; False only when `blocking` is False and another thread or process holds the key."""
        if not self._memory.acquire(blocking):
            return False
        file = FileLock(self.path, thread_local=False)
        try:
            file.acquire(blocking=blocking)  # filelock raises Timeout rather than returning False
        except Timeout:
            self._memory.release()
            return False
        except OSError:  # no lock file possible here (read-only, missing folder): this process's lock alone
            file = None
        self._file = file
        return True

    def release(self) -> None:
        """Delete the lock file while still holding it, then release: the locks folder never grows."""
        file, self._file = self._file, None
        if file is not None:
            with contextlib.suppress(OSError):
                self.path.unlink()
            file.release()
        self._memory.release()

    def __enter__(self) -> KeyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


_MEMORY_LOCKS: dict[str, threading.Lock] = {}  # one per lock path ever used in this process: a few hundred bytes a key
_MEMORY_GUARD = threading.Lock()


def _forget_locks_after_fork() -> None:
    """A forked child holds none of its parent's locks, whatever other threads held at the fork."""
    global _MEMORY_GUARD
    _MEMORY_GUARD = threading.Lock()
    _MEMORY_LOCKS.clear()


os.register_at_fork(after_in_child=_forget_locks_after_fork)
