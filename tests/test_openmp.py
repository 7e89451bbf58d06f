"""Importing the engine makes torch's OpenMP workers sleep when idle instead of spinning.

Spinning workers made a training step 30-100x slower on a busy 2-core machine
(benchmarks/RESULTS.md, "OpenMP wait policy"). libgomp reads the policy once, when torch
loads it, so this runs fresh interpreters and reads what libgomp itself reports.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys

from conftest import ROOT


def spin_counts(code: str, **env: str) -> list[str]:
    environment = {k: v for k, v in os.environ.items() if k != "OMP_WAIT_POLICY"} | {"OMP_DISPLAY_ENV": "VERBOSE", **env}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=environment, capture_output=True, text=True, check=True)
    return re.findall(r"GOMP_SPINCOUNT = '(\d+)'", done.stderr)


def test_engine_import_sets_a_passive_wait_policy_before_torch_loads_openmp() -> None:
    counts = spin_counts("import resnet_core, torch; torch.randn(256, 256).sum()")
    assert counts and all(c == "0" for c in counts), counts


def test_a_policy_chosen_by_the_host_is_kept() -> None:
    counts = spin_counts(
        "import resnet_core, os, torch; torch.randn(256, 256).sum(); print(os.environ['OMP_WAIT_POLICY'])",
        OMP_WAIT_POLICY="ACTIVE",
    )
    assert counts and all(c != "0" for c in counts), counts
