"""Hostile URLs on every page through AppTest: never an exception, never a visitor's text shown as live Markdown.

A CI-sized sample of benchmarks/fuzz.py's generator (that script runs the same at scale, see
docs/RELIABILITY.md "Fuzz"). The URLs the issue reported come first, then generated ones.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from benchmarks.fuzz import MARKER, Case, cases, findings, run_case

SAMPLE = 36  # about 0.5 s each on a busy 2-core machine, after the first
REPORTED = [
    Case("app.py", {"lesson": f"[Click here to sign in again](https://{MARKER}/login)"}),
    Case("app.py", {"depth": f"![x](https://{MARKER}/pixel.png)", "steps": "0"}),
    Case("app.py", {"depth": "A" * 4000, "steps": "0"}),
    Case("app.py", {"seed": "inf", "steps": "0"}),
    Case("app.py", {"steps": "1e999"}),
    Case("app.py", {"width": "-inf", "steps": "0"}),
    Case("app.py", {"batch_size": "9" * 400, "steps": "0"}),
    Case("app.py", {"dataset": "cifar10", "data_path": "/etc/passwd", "depth": "8", "width": "4"}),
    Case("app.py", {"dataset": "cifar10", "data_path": "/" + "x" * 5000, "depth": "8", "width": "4"}),
    Case("views/degradation.py", {"depths": ["20", f"[x](https://{MARKER})"], "seed": "inf"}),
    Case("app.py", {"present": "1", "utm_source": "A" * 4000, "steps": "0"}),  # found by benchmarks/fuzz.py: no QR fits
    Case("app.py", {"follow": f"[Click here to sign in again](https://{MARKER}/login)", "steps": "0"}),  # fuzz, 10,000
    Case("app.py", {"follow": "9" * 4000, "steps": "0"}),
    Case("app.py", {"image_size": "2", "steps": "0"}),  # a 3x3 kernel would cover the whole 2x2 image
    Case("app.py", {"arch": "mlp", "dataset": "moons", "depth": "4", "image_size": "16", "steps": "0"}),  # a 2-D set
    Case("views/identity.py", {"alpha": "1e999", "l2s": [f"<script>{MARKER}</script>", "0.1"], "width": "4"}),
]


@pytest.fixture
def no_probe_training(monkeypatch: pytest.MonkeyPatch, cache_dir: Path) -> None:
    """A private cache and no host settings."""
    for name in ("HOSTED", "MAX_COMPUTE", "MAX_SWEEP", "MAX_CONCURRENT", "CIFAR10_PATH"):
        monkeypatch.delenv(f"RESNET_LAB_{name}", raising=False)


@pytest.mark.usefixtures("no_probe_training")
@pytest.mark.parametrize("case", REPORTED, ids=lambda case: f"{case.page}?{'&'.join(case.query)}")
def test_reported_urls_are_refused_safely(case: Case) -> None:
    at = run_case(case)
    assert findings(at) == []
    assert at.warning or at.info, "a refused value is named in a warning"


@pytest.mark.usefixtures("no_probe_training")
def test_generated_hostile_urls_on_every_page() -> None:
    failures = []
    for case in cases(SAMPLE, seed=2026):
        problems = findings(run_case(case))
        if problems:
            failures.append(f"{case.page} {case.query!r:.200}: {problems}")
    assert not failures, "\n".join(failures)
