"""Section 8 of the suite: time and peak memory of a measured paired step against depth and against batch size.

Each point runs in a fresh process (one torch thread, as the app's workers), started from a tiny
interpreter (serve.PEAK_OF_CHILD: Linux carries the parent's RSS high-water mark across fork and exec),
so its peak RSS is that configuration's own: build the pair, then measured training steps on digits.
The growth is stated from the points themselves: seconds and MB per block relative to the smallest.
"""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

from benchmarks import ROOT
from benchmarks.serve import PEAK_OF_CHILD

DEPTHS = (20, 56, 110, 218, 434, 866, 1202)
BATCHES = (16, 32, 64, 128, 256, 512)

POINT = """
import json, sys, time, torch
torch.set_num_threads(1)
from resnet_core import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.models import build_pair
from resnet_core.specs import VARIANTS
from resnet_core.paired import PairedStack
from resnet_core.training import _train_step, make_optimizer
config = ExperimentConfig(depth=int(sys.argv[1]), batch_size=int(sys.argv[2]))
x, y, _, _ = load_dataset(config)
nets = build_pair(config, x.shape[1:], 10)
pair = PairedStack.of_nets(nets["plain"], nets["residual"])
optimizer = make_optimizer(config, pair)
xb, yb = x[: config.batch_size], y[: config.batch_size]
times = []
for step in range(int(sys.argv[3]) + 1):
    start = time.perf_counter()
    losses, wrong, measured = _train_step(pair, optimizer, xb, yb, True, list(VARIANTS))
    torch.cat([losses, wrong, *measured.values()]).tolist()
    times.append(time.perf_counter() - start)
times = sorted(times[1:])
print(json.dumps({"step_s": times[len(times) // 2]}))
"""


def point(depth: int, batch: int, steps: int) -> dict[str, float]:
    command = [sys.executable, "-c", PEAK_OF_CHILD, sys.executable, "-c", POINT, str(depth), str(batch), str(steps)]
    lines = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout.splitlines()
    status, kib = lines[-1].split()
    if int(status) != 0:
        raise RuntimeError(f"the CNN-{depth} batch {batch} point failed with wait status {status}")
    return json.loads(lines[-2]) | {"peak_mb": int(kib) / 1024}


def scale_rows(row: Any, quick: bool) -> list[Any]:
    """One row per point, and one stating the growth of each sweep."""
    steps = 2 if quick else 5
    rows = []
    for sweep, points in (("depth", [(d, 64) for d in DEPTHS]), ("batch", [(56, b) for b in BATCHES])):
        results = [(d, b, point(d, b, steps)) for d, b in points]
        for d, b, r in results:
            rows.append(
                row(
                    "8 scale",
                    f"CNN-{d} batch {b}: measured paired step",
                    r["step_s"] * 1e3,
                    "ms",
                    note=f"peak RSS {r['peak_mb']:.0f} MB; 1 thread; median of {steps} steps",
                )
            )
        size = [(d - 2) // 6 * 3 if sweep == "depth" else b for d, b, _ in results]  # blocks, or samples
        per_unit = [r["step_s"] / n for n, (_, _, r) in zip(size, results, strict=True)]
        unit = "block" if sweep == "depth" else "sample"
        rows.append(
            row(
                "8 scale",
                f"growth vs {sweep}: time per {unit} at the largest / at the smallest",
                per_unit[-1] / per_unit[0],
                "x",
                note=f"1 = linear in {sweep}; {1e3 * per_unit[0]:.2f} ms -> {1e3 * per_unit[-1]:.2f} ms per {unit}; "
                f"peak RSS {results[0][2]['peak_mb']:.0f} -> {results[-1][2]['peak_mb']:.0f} MB",
            )
        )
    return rows
