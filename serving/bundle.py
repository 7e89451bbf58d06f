"""One file of cached results a teacher copies to an offline laptop: export and import of cache entries.

A bundle is a zip of cache entries as they lie on disk plus a manifest naming the engine
fingerprint that computed them. Entry names hold that fingerprint's hash, so results from other
code are never read as this code's; importing such a bundle says so instead of copying dead
files. Every entry is checked (name pattern, the envelope `ResultCache.put` writes) before it is
written, atomically, into the cache directory.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import zipfile
from pathlib import Path

from serving.cache import ResultCache
from serving.keys import engine_fingerprint

MANIFEST = "manifest.json"
ENTRY_NAME = re.compile(r"[a-z_]+-[0-9a-f]{32}\.json")  # the names ResultCache.path gives: no folders, no tricks


def export_bundle(cache: ResultCache, target: Path, *, used_since: float = 0.0) -> int:
    """Zip the cache's entries read or written since `used_since` (a time.time()) into `target`; returns how many."""
    entries = sorted(p for p in cache.entries() if ENTRY_NAME.fullmatch(p.name) and p.stat().st_mtime >= used_since)
    with zipfile.ZipFile(target, "w", compression=zipfile.ZIP_DEFLATED) as bundle:
        bundle.writestr(MANIFEST, json.dumps({"engine": engine_fingerprint(), "entries": [p.name for p in entries]}))
        for path in entries:
            bundle.write(path, path.name)
    return len(entries)


def import_bundle(cache: ResultCache, source: Path) -> int:
    """Copy a bundle's entries into the cache; ValueError when it was made by other code or holds something else."""
    with zipfile.ZipFile(source) as bundle:
        manifest = json.loads(bundle.read(MANIFEST))
        if manifest.get("engine") != engine_fingerprint():
            raise ValueError(
                f"{source} was made by another version of the lab (engine {manifest.get('engine')}, this one "
                f"{engine_fingerprint()}): its results would never be read. Export it again from this version."
            )
        names = [name for name in manifest.get("entries", []) if ENTRY_NAME.fullmatch(name)]
        for name in names:
            entry = json.loads(bundle.read(name))
            if not (isinstance(entry, dict) and {"kind", "config", "payload"} <= entry.keys()):
                raise ValueError(f"{source}: {name} is not a cache entry")
            handle, temp = tempfile.mkstemp(dir=cache.root, prefix=".tmp-", suffix=".json")
            with os.fdopen(handle, "wb") as file:
                file.write(bundle.read(name))
            os.replace(temp, cache.root / name)
    cache.evict()
    return len(names)
