"""Every paired kernel the engine can feed, checked in child processes on every CPU's code path.

torch 2.13.0's oneDNN once corrupted the heap in the backward of a channels_last 1x1 stride-2
conv with 2 to 6 input channels, on AVX2 CPUs only: CI passed on an AVX-512 machine while the
same suite aborted on an AVX2 one. So the matrix runs each case twice: under the CPU's own ISA
and with oneDNN capped at AVX2 (ONEDNN_MAX_CPU_ISA, a no-op on CPUs without it), at one and two
torch threads, in both memory layouts, over every arch x shortcut x width 1..8 plus the
paper's and wider widths. A crash fails the one case that caused it (tests/kernel_worker.py).

The nets use GELU: with ReLU, a pre-activation within float32 rounding of zero (one in ~16k
elements at width 32) switches its unit on in one summation order and off in another, so
two correct kernels may disagree by 1e-3. GELU has no kink, so every correct path agrees to
1e-4 and a kernel error of any size shows; the conv, BN and shortcut kernels are the same.
The issue's own command, at the default ReLU, runs as a CLI test below.
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

ISAS = {"native": None, "avx2": "AVX2"}
WIDTHS = {"cnn": [*range(1, 9), 12, 16, 32], "mlp": [*range(1, 9), 16, 64, 256]}
SETTINGS = {"cnn": {"dataset": "digits", "depth": 8}, "mlp": {"dataset": "moons", "depth": 4, "n_samples": 64}}
CASES = [
    (isa, arch, shortcut, width, threads, channels_last, "")
    for isa in ISAS
    for arch in WIDTHS
    for shortcut in "ABC"
    for width in WIDTHS[arch]
    for threads in (1, 2)
    for channels_last in ((True, False) if arch == "cnn" else (True,))
]
# The kernel paths added since: circular padding (F.pad before every 3x3 conv) and pre-activation blocks (their own
# forward in the paired stack), at the small widths where the oneDNN bug lived, in both layouts and thread counts.
# Resized inputs (image_size) give other map sides: 32 (CIFAR's), and 10, whose odd 5x5 stage meets stride 2.
VARIANT_FIELDS = {
    "circular": {"padding": "circular"},
    "pre": {"block": "pre"},
    "size10": {"image_size": 10},
    "size32": {"image_size": 32},
}
CASES += [
    (isa, "cnn", shortcut, width, threads, channels_last, variant)
    for isa in ISAS
    for variant in VARIANT_FIELDS
    for shortcut in "ABC"
    for width in (1, 2, 4, 8)
    for threads in (1, 2)
    for channels_last in (True, False)
]


class Worker:
    """One tests.kernel_worker child for one ISA; replaced after it dies."""

    def __init__(self, isa: str) -> None:
        env = dict(os.environ)
        env.pop("ONEDNN_MAX_CPU_ISA", None)
        if ISAS[isa]:
            env["ONEDNN_MAX_CPU_ISA"] = ISAS[isa]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.kernel_worker"],
            cwd=ROOT,
            env=env,
            text=True,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def check(self, case: dict[str, object]) -> list[str] | None:
        """The case's mismatches, or None if the child died on it."""
        try:
            self.process.stdin.write(json.dumps(case) + "\n")
            self.process.stdin.flush()
        except BrokenPipeError:
            return None
        line = self.process.stdout.readline()
        return json.loads(line) if line else None

    def last_words(self) -> str:
        code = self.process.wait()  # the child writes to stderr only as it dies, so the pipe never fills
        return f"exit status {code}: " + self.process.stderr.read()[-2000:]

    def close(self) -> None:
        self.process.stdin.close()
        self.process.wait()
        self.process.stderr.close()


@pytest.fixture(scope="module")
def workers() -> Iterator[dict[str, Worker]]:
    alive: dict[str, Worker] = {}
    yield alive
    for worker in alive.values():
        worker.close()


@pytest.mark.parametrize(
    ("isa", "arch", "shortcut", "width", "threads", "channels_last", "variant"),
    CASES,
    ids=lambda v: {True: "nhwc", False: "nchw"}.get(v, str(v)) if isinstance(v, bool) else (str(v) or "post"),
)
def test_paired_kernels_match_the_references(
    workers: dict[str, Worker],
    isa: str,
    arch: str,
    shortcut: str,
    width: int,
    threads: int,
    channels_last: bool,
    variant: str,
) -> None:
    worker = workers.get(isa) or workers.setdefault(isa, Worker(isa))
    case = {
        "arch": arch,
        "shortcut": shortcut,
        "width": width,
        "batch_size": 16,
        "threads": threads,
        "channels_last": channels_last,
        "activation": "gelu",
        **SETTINGS[arch],
        **VARIANT_FIELDS.get(variant, {}),
    }
    problems = worker.check(case)
    if problems is None:
        del workers[isa]
        pytest.fail(f"the engine process died on {case}: {worker.last_words()}")
    assert not problems, "\n".join(problems[:20])


@pytest.mark.parametrize("isa", ISAS)
def test_the_reported_crash_runs_to_the_end(isa: str, tmp_path: Path) -> None:
    """The command from the bug report: width 4, projection shortcuts, one thread; it aborted on AVX2 CPUs."""
    env = {k: v for k, v in os.environ.items() if k != "ONEDNN_MAX_CPU_ISA"} | (
        {"ONEDNN_MAX_CPU_ISA": ISAS[isa]} if ISAS[isa] else {}
    )
    out = tmp_path / "run.json"
    command = "run --arch cnn --dataset digits --width 4 --depth 8 --shortcut B --steps 6 --batch-size 16 --quiet --out"
    result = subprocess.run(
        [sys.executable, "-m", "resnet_core", *shlex.split(command), str(out)],
        cwd=ROOT,
        env=env | {"RESNET_LAB_THREADS": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert json.loads(out.read_text())
