"""On-disk result cache shared by every session and every process of the lab.

A classroom opens the same link thirty times: the first request computes, the others read.
Entries are JSON files named by a hash of (kind, every config field, engine source), so

- an identical request is served across sessions and server restarts,
- changing the engine's code invalidates old results instead of serving stale numbers,
- a write is atomic (temp file + ``os.replace``): a reader never sees half a file,
- a file that is not exactly this key's entry (truncated, corrupt, foreign JSON) is a miss, never served,
- ``claim`` takes a key's lock across threads and processes (serving.locks) before its result is
  computed, so the executor computes a result once however many processes share the directory,
- the directory stays under a byte budget, least recently used entries evicted first, never the one
  just written; an entry larger than the whole budget is not stored (`put` returns False),
- a read-only or full disk costs the caching, never the result: entries stay in the process's memory
  and ``ResultCache.warning`` says so,
- temp and lock files left by a killed process are swept after ``STALE_SECONDS``.

Location and budget: ``RESNET_LAB_CACHE_DIR`` (default ``.cache/results`` in the repository) and
``RESNET_LAB_CACHE_MB`` (default 200). Payloads are anything ``json.dumps`` accepts; NaN and
infinity are kept (Python's JSON dialect), so a stored run reads back exactly as recorded.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import tempfile
import threading
import time
from collections import OrderedDict
from pathlib import Path
from typing import Any

from resnet_core.config import ExperimentConfig
from serving.keys import ROOT, result_key
from serving.locks import KeyLock
from serving.settings import host_settings

DEFAULT_DIR = ROOT / ".cache" / "results"
DEFAULT_MB = 200.0
STALE_SECONDS = 3600.0  # temp and lock files older than this, and not in use, were left by a killed process


class ResultCache:
    """A directory of JSON results keyed by (kind, config), bounded to `max_bytes`.

    It never raises to the page over its own storage. When the disk refuses a write (read-only, full),
    the entry is kept in this process's memory instead, under the same byte budget, so viewers waiting
    on the key read it rather than each training again in turn; `warning` says so in one sentence
    (None while all is well). An entry larger than the whole budget is returned but not stored:
    keeping it would evict every other entry.
    """

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.warning: str | None = None
        self._unsaved: OrderedDict[Path, bytes] = OrderedDict()  # entries the disk refused, least recently used first
        self._unsaved_guard = threading.Lock()
        try:
            (self.root / "locks").mkdir(parents=True, exist_ok=True)
            for folder in (self.root, self.root / "locks"):
                handle, probe = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=".json")
                os.close(handle)
                os.unlink(probe)
        except OSError as error:
            self._unavailable(error)

    def _unavailable(self, error: OSError) -> None:
        reason = error.strerror or type(error).__name__
        self.warning = (
            f"The shared result cache cannot store results ({reason}): "
            "they are kept in this server's memory only, and computed again after a restart."
        )

    def path(self, kind: str, config: ExperimentConfig) -> Path:
        return self.root / f"{kind}-{result_key(kind, config)}.json"

    def holds(self, kind: str, config: ExperimentConfig) -> bool:
        """Whether an entry is stored under this key, without reading it: a page that shares what it decoded from
        several entries (ui.shared) keys it on which are stored, and decodes them only when that changes."""
        path = self.path(kind, config)
        with self._unsaved_guard:
            if path in self._unsaved:
                return True
        return path.is_file()

    def claim(self, kind: str, config: ExperimentConfig) -> KeyLock | None:
        """The key's lock, now held, or None while another thread or process holds it (never blocks).

        Whoever holds it computes the result, `put`s it, then releases; whoever gets None waits, claims
        again and, once it holds the key, reads the entry the other one stored (serving.jobs.Executor).
        """
        lock = KeyLock(self.root / "locks" / f"{kind}-{result_key(kind, config)}.lock")
        return lock if lock.acquire(blocking=False) else None

    def get(self, kind: str, config: ExperimentConfig) -> Any | None:
        """The stored payload, or None; a read marks the entry as recently used.

        A file that is not this key's entry (truncated, corrupt, or valid JSON of another shape, kind or
        config) is a miss and is deleted, so it is recomputed and rewritten rather than ever served.
        """
        path = self.path(kind, config)
        with self._unsaved_guard:
            data = self._unsaved.get(path)
            if data is not None:
                self._unsaved.move_to_end(path)
        if data is not None:
            return json.loads(data)["payload"]  # decoded afresh, as from disk: no caller shares another's objects
        try:
            entry = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):
            entry = None
        if not self._is_entry(entry, kind, config):
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return entry["payload"]

    @staticmethod
    def _is_entry(entry: Any, kind: str, config: ExperimentConfig) -> bool:
        """Whether a decoded file is the envelope `put` writes for this kind and config."""
        params = json.loads(json.dumps(config.to_params(include_defaults=True)))  # as it reads back from JSON
        return isinstance(entry, dict) and entry.get("kind") == kind and entry.get("config") == params and "payload" in entry

    def put(self, kind: str, config: ExperimentConfig, payload: Any) -> bool:
        """Store atomically, then evict the least recently used other entries beyond the budget. True when stored.

        False when the entry alone exceeds the budget, or the disk refused (read-only, full): then no
        partial file is left behind, the entry is kept in memory and `warning` says why; a later
        successful write clears it.
        """
        data = json.dumps({"kind": kind, "config": config.to_params(include_defaults=True), "payload": payload}).encode()
        if len(data) > self.max_bytes:
            return False
        path = self.path(kind, config)
        try:
            handle, temp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        except OSError as error:
            self._keep_in_memory(path, data, error)
            return False
        try:
            with os.fdopen(handle, "wb") as f:
                f.write(data)
            os.replace(temp, path)
        except OSError as error:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            self._keep_in_memory(path, data, error)
            return False
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self.warning = None
        with self._unsaved_guard:
            self._unsaved.pop(path, None)
        self.evict(keep=path)
        return True

    def _keep_in_memory(self, path: Path, data: bytes, error: OSError) -> None:
        """The disk refused `data`: keep it in this process, dropping least recently used entries beyond the budget."""
        self._unavailable(error)
        with self._unsaved_guard:
            self._unsaved[path] = data
            self._unsaved.move_to_end(path)
            while sum(len(d) for d in self._unsaved.values()) > self.max_bytes:
                self._unsaved.popitem(last=False)

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.entries())

    def entries(self) -> list[Path]:
        return [p for p in self.root.glob("*.json") if not p.name.startswith(".tmp-")]

    def evict(self, keep: Path | None = None) -> None:
        """Delete oldest-used entries, never `keep`, until the total fits; one evictor at a time. Then sweep."""
        with KeyLock(self.root / "locks" / "evict.lock"):
            stats = []
            for path in self.entries():
                with contextlib.suppress(FileNotFoundError):
                    stats.append((path.stat().st_mtime, path.stat().st_size, path))
            total = sum(size for _, size, _ in stats)
            for _, size, path in sorted(stats):
                if total <= self.max_bytes:
                    break
                if path == keep:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                total -= size
            self.sweep()

    def sweep(self, older_than: float = STALE_SECONDS) -> None:
        """Delete what killed processes left behind: temp files, and lock files no one holds, older than `older_than` s.

        A live writer's temp file is seconds old; should one be deleted anyway, its rename fails and
        `put` reports the result as not stored. A lock file is deleted only by whoever holds it (KeyLock).
        """
        cutoff = time.time() - older_than
        for path in [*self.root.glob(".tmp-*.json"), *(self.root / "locks").glob("*.lock")]:
            try:
                if path.stat().st_mtime > cutoff:
                    continue
            except FileNotFoundError:
                continue
            if path.suffix == ".json":
                with contextlib.suppress(OSError):
                    path.unlink()
            else:
                lock = KeyLock(path)
                if lock.acquire(blocking=False):
                    lock.release()


def default_cache() -> ResultCache:
    """The cache the app uses, configured by RESNET_LAB_CACHE_DIR and RESNET_LAB_CACHE_MB (serving.settings)."""
    settings = host_settings()
    root = settings.get("RESNET_LAB_CACHE_DIR") or str(DEFAULT_DIR)
    try:
        mb = float(settings.get("RESNET_LAB_CACHE_MB") or DEFAULT_MB)
    except ValueError:
        raise ValueError(f"RESNET_LAB_CACHE_MB: {settings['RESNET_LAB_CACHE_MB']!r} is not a number of megabytes") from None
    return _cache_at(root, int(mb * 1024 * 1024))


@functools.cache
def _cache_at(root: str, max_bytes: int) -> ResultCache:
    return ResultCache(root, max_bytes)


def get(kind: str, config: ExperimentConfig) -> Any | None:
    return default_cache().get(kind, config)


def holds(kind: str, config: ExperimentConfig) -> bool:
    return default_cache().holds(kind, config)


def put(kind: str, config: ExperimentConfig, payload: Any) -> bool:
    return default_cache().put(kind, config, payload)
