"""The host's cost model against the engine: estimated vs measured peak memory and time, one config per subprocess.

`python benchmarks/cost_model.py` prints two Markdown tables (docs/RELIABILITY.md, "Cost budget"): the time of a
page's first view (the init measurement, best of 2 after a warm-up) against its estimate, then memory. Memory is
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
# A page's first view (the init measurement alone), where the per-layer setup term weighs most.
INIT_VIEWS = [
    {"depth": 56},
    {"depth": 1202},
    {"depth": 56, "width": 64, "batch_size": 1024},
    {"arch": "mlp", "dataset": "moons", "depth": 1000, "norm": "none"},
    {"arch": "mlp", "dataset": "moons", "depth": 100},
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


def measure_init_view(fields: dict[str, object]) -> dict[str, float]:
    """In this process: CPU time of a page's first view (best of 2 after a warm-up) and its estimate."""
    import torch

    from resnet_core.config import ExperimentConfig
    from resnet_core.training import measure_init
    from serving.cost import estimate_cost

    torch.set_num_threads(1)
    config = ExperimentConfig(**fields)
    list(measure_init(config))  # warm-up: kernels, the data cache
    times = []
    for _ in range(2):
        began = time.process_time()
        list(measure_init(config))
        times.append(time.process_time() - began)
    return {"cpu_s": min(times), "estimated_s": estimate_cost(config, train=False).seconds}


def _in_subprocess(function: str, fields: dict[str, object]) -> dict[str, float]:
    env = os.environ | {"MALLOC_MMAP_THRESHOLD_": "65536", "PYTHONPATH": str(ROOT)}
    code = f"import json, benchmarks.cost_model as m; print(json.dumps(m.{function}({fields!r})))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _label(fields: dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in fields.items())


def main() -> None:
    print("| first view | estimated s | CPU s | ratio |\n|---|---|---|---|")
    for fields in INIT_VIEWS:
        r = _in_subprocess("measure_init_view", fields)
        print(f"| {_label(fields)} | {r['estimated_s']:.2f} | {r['cpu_s']:.2f} | {r['cpu_s'] / r['estimated_s']:.2f} |")
    print("\n| config | estimated MB | measured MB | ratio | estimated s | CPU s |\n|---|---|---|---|---|---|")
    for fields in CONFIGS:
        r = _in_subprocess("measure", fields)
        label = _label(fields)
        print(
            f"| {label} | {r['estimated_mb']:,.0f} | {r['measured_mb']:,.0f} | {r['measured_mb'] / r['estimated_mb']:.2f} "
            f"| {r['estimated_s']:.1f} | {r['cpu_s']:.1f} |"
        )


if __name__ == "__main__":
    main()
