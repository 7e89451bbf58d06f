"""What names a result: (kind, every config field, a hash of the code that computes it).

One key for the result cache's file names and for the executor's "identical request" check, so a
request is the same request everywhere: another visitor, another server process, the CLI's sweep.
"""

from __future__ import annotations

import functools
import hashlib
import json
from pathlib import Path

from resnet_core.config import ExperimentConfig

ROOT = Path(__file__).resolve().parent.parent  # the repository: what the fingerprint reads, where workers start
FINGERPRINTED = ("resnet_core", "lab")  # every module that can change a computed number


@functools.cache
def engine_fingerprint() -> str:
    """Hash of the engine's and the lab's source: results computed by older code never match."""
    digest = hashlib.sha256()
    for path in sorted(p for package in FINGERPRINTED for p in (ROOT / package).rglob("*.py")):
        digest.update(str(path.relative_to(ROOT)).encode() + b"\0" + path.read_bytes())
    return digest.hexdigest()[:16]


def result_key(kind: str, config: ExperimentConfig) -> str:
    """Stable across processes: sorted full params, the kind and the engine fingerprint."""
    text = json.dumps(
        {"kind": kind, "config": sorted(config.to_params(include_defaults=True).items()), "engine": engine_fingerprint()}
    )
    return hashlib.sha256(text.encode()).hexdigest()[:32]
