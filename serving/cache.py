"""On-disk result cache shared by every session and every process of the lab.

A classroom opens the same link thirty times: the first request computes, the others read.
Entries are JSON files named by a hash of (kind, every config field, engine source), so

- an identical request is served across sessions and server restarts,
- changing the engine's code invalidates old results instead of serving stale numbers,
- a write is atomic (temp file + ``os.replace``): a reader never sees half a file,
- a per-key file lock makes ``get_or_compute`` single-flight across threads and processes,
- the directory stays under a byte budget, least recently used entries evicted first.

Location and budget: ``RESNET_LAB_CACHE_DIR`` (default ``.cache/results`` in the repository) and
``RESNET_LAB_CACHE_MB`` (default 200). Payloads are anything ``json.dumps`` accepts; NaN and
infinity are kept (Python's JSON dialect), so a stored run reads back exactly as recorded.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from resnet_core.config import ExperimentConfig
from serving.settings import read_settings

ROOT = Path(__file__).resolve().parent.parent
FINGERPRINTED = ("resnet_core", "lab")  # every module that can change a computed number
DEFAULT_DIR = ROOT / ".cache" / "results"
DEFAULT_MB = 200.0


@functools.cache
def engine_fingerprint() -> str:
    """Hash of the engine's and the lab's source: results computed by older code never match."""
    digest = hashlib.sha256()
    for path in sorted(p for package in FINGERPRINTED for p in (ROOT / package).rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


class ResultCache:
    """A directory of JSON results keyed by (kind, config), bounded to `max_bytes`."""

    def __init__(self, root: str | os.PathLike[str], max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.root.mkdir(parents=True, exist_ok=True)
        (self.root / "locks").mkdir(exist_ok=True)

    def key(self, kind: str, config: ExperimentConfig) -> str:
        """Stable across processes: sorted full params, the kind and the engine fingerprint."""
        text = json.dumps(
            {"kind": kind, "config": sorted(config.to_params(include_defaults=True).items()), "engine": engine_fingerprint()}
        )
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    def path(self, kind: str, config: ExperimentConfig) -> Path:
        return self.root / f"{kind}-{self.key(kind, config)}.json"

    def lock(self, kind: str, config: ExperimentConfig) -> FileLock:
        """The per-key lock a computer holds while computing (a fresh object: safe to use from any thread)."""
        return FileLock(self.root / "locks" / f"{kind}-{self.key(kind, config)}.lock", thread_local=False)

    def try_lock(self, kind: str, config: ExperimentConfig) -> FileLock | None:
        """The key's lock, now held, or None when another thread or process holds it (never blocks)."""
        lock = self.lock(kind, config)
        try:
            lock.acquire(blocking=False)  # filelock raises Timeout here rather than returning False
        except Timeout:
            return None
        return lock

    def get(self, kind: str, config: ExperimentConfig) -> Any | None:
        """The stored payload, or None; a read marks the entry as recently used."""
        path = self.path(kind, config)
        try:
            payload = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError):  # unreadable or foreign file: treat as a miss and let it be rewritten
            with contextlib.suppress(OSError):
                path.unlink()
            return None
        with contextlib.suppress(OSError):
            os.utime(path)
        return payload["payload"]

    def put(self, kind: str, config: ExperimentConfig, payload: Any) -> None:
        """Store atomically, then evict the least recently used entries beyond the budget."""
        text = json.dumps({"kind": kind, "config": config.to_params(include_defaults=True), "payload": payload})
        handle, temp = tempfile.mkstemp(dir=self.root, prefix=".tmp-", suffix=".json")
        try:
            with os.fdopen(handle, "w") as f:
                f.write(text)
            os.replace(temp, self.path(kind, config))
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(temp)
            raise
        self.evict()

    def get_or_compute(self, kind: str, config: ExperimentConfig, compute: Callable[[], Any]) -> Any:
        """Single flight: the first caller computes under the key's lock, concurrent callers wait and read."""
        payload = self.get(kind, config)
        if payload is not None:
            return payload
        with self.lock(kind, config):
            payload = self.get(kind, config)
            if payload is None:
                payload = compute()
                self.put(kind, config, payload)
        return payload

    def size(self) -> int:
        return sum(p.stat().st_size for p in self.entries())

    def entries(self) -> list[Path]:
        return [p for p in self.root.glob("*.json") if not p.name.startswith(".tmp-")]

    def evict(self) -> None:
        """Delete oldest-used entries until the total fits; one evictor at a time."""
        with FileLock(self.root / "locks" / "evict.lock", thread_local=False):
            stats = []
            for path in self.entries():
                with contextlib.suppress(FileNotFoundError):
                    stats.append((path.stat().st_mtime, path.stat().st_size, path))
            total = sum(size for _, size, _ in stats)
            for _, size, path in sorted(stats):
                if total <= self.max_bytes:
                    break
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
                total -= size


def default_cache() -> ResultCache:
    """The cache the app uses, configured by RESNET_LAB_CACHE_DIR and RESNET_LAB_CACHE_MB (serving.settings)."""
    settings = read_settings()
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


def put(kind: str, config: ExperimentConfig, payload: Any) -> None:
    default_cache().put(kind, config, payload)


def get_or_compute(kind: str, config: ExperimentConfig, compute: Callable[[], Any]) -> Any:
    return default_cache().get_or_compute(kind, config, compute)
