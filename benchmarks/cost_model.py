"""The host's cost model against the engine: estimated vs measured peak memory and time, one config per subprocess.

`python benchmarks/cost_model.py` prints a Markdown table (docs/RELIABILITY.md, "Cost budget"). Memory is
the peak RSS of a fresh process over one training run (init view, one step, two evaluations) above its
RSS after a warm-up run at batch 2, with glibc's mmap threshold fixed so freed tensors leave the RSS.
FLOPs are checked exactly by tests/test_cost.py.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import ROOT

CONFIGS = [
    {"depth": 20, "width": 32, "batch_size": 512, "steps": 1},
    {"depth": 8, "width": 128, "batch_size": 1024, "shortcut": "C", "steps": 1},
    {"depth": 56, "width": 16, "batch_size": 1437, "steps": 1},
    {"arch": "mlp", "dataset": "moons", "n_samples": 20000, "depth": 100, "width": 256, "batch_size": 2048, "steps": 1},
]


def _rss(field: str) -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) * 1024 for line in status if line.startswith(field))


def measure(fields: dict[str, object]) -> dict[str, float]:
    """In this process: peak RSS growth and CPU time of measure_init + train(config), and the estimate."""
    import torch

    from resnet_core.config import ExperimentConfig
    from resnet_core.training import measure_init, train
    from serving.cost import estimate_cost

    torch.set_num_threads(1)
    config = ExperimentConfig(**fields)
    list(train(config.replace(batch_size=2)))  # warm-up: kernels, the data cache
    base = _rss("VmRSS")
    Path("/proc/self/clear_refs").write_text("5")  # reset the peak
    began = time.process_time()
    list(measure_init(config))
    list(train(config))
    cost = estimate_cost(config)
    return {
        "measured_mb": (_rss("VmHWM") - base) / 2**20,
        "estimated_mb": cost.memory_mb,
        "cpu_s": time.process_time() - began,
        "estimated_s": cost.seconds,
    }


def main() -> None:
    print("| config | estimated MB | measured MB | ratio | estimated s | CPU s |\n|---|---|---|---|---|---|")
    for fields in CONFIGS:
        env = os.environ | {"MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(ROOT)}
        code = f"import json, benchmarks.cost_model as m; print(json.dumps(m.measure({fields!r})))"
        out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
        r = json.loads(out.stdout.strip().splitlines()[-1])
        label = ", ".join(f"{k} {v}" for k, v in fields.items())
        print(
            f"| {label} | {r['estimated_mb']:,.0f} | {r['measured_mb']:,.0f} | {r['measured_mb'] / r['estimated_mb']:.2f} "
            f"| {r['estimated_s']:.1f} | {r['cpu_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
