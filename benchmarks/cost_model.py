"""The host's cost model against the engine: estimated vs measured peak memory and time, one config per subprocess.

`python -m benchmarks.cost_model` prints two Markdown tables (docs/RELIABILITY.md, "Cost budget"): the time of a
page's first view (the init measurement, best of 2 after a warm-up) against its estimate (`--first-views`: this
table alone), then memory. `--layer-costs` measures the fixed cost of a dense and of a conv layer call, with and
without BN (serving.cost.LAYER_STEP_SECONDS, SETUP_LAYER_STEPS), on a deep net of each kind. Memory is the peak
RSS of a fresh process over one training run (init view, one step, two evaluations) above its RSS after a
warm-up run at batch 2, with glibc's mmap threshold fixed so freed tensors leave the RSS (times are taken
without it). FLOPs are checked exactly by tests/test_cost.py, times against the reference machine's.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

from benchmarks import ROOT
from resnet_core.config import NORMS

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


# Deep nets whose time is mostly per-layer overhead: one per kind of layer and normalisation (defaults otherwise).
LAYER_PROBES = {
    (kind, norm): fields | {"norm": norm}
    for kind, fields in (("dense", {"arch": "mlp", "dataset": "moons", "depth": 1000}), ("conv", {"depth": 302}))
    for norm in NORMS
}
PROBE_STEPS = 8


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


def measure_layer_cost(fields: dict[str, object]) -> dict[str, float]:
    """In this process: a layer call's fixed cost and the init view's extra per layer, as serving.cost defines them.

    A step's CPU time is the difference of two trainings, PROBE_STEPS + 1 and 1 steps (the same evaluations and
    measured last step), over PROBE_STEPS; its arithmetic at REFERENCE_GFLOPS is taken out, the rest shared by the
    layers. The init view's time beyond its own step's arithmetic, per layer, in such steps, less the step itself,
    is the setup. Best of 2 after a warm-up each.
    """
    import torch

    from resnet_core.config import ExperimentConfig
    from resnet_core.training import measure_init, train
    from serving.cost import REFERENCE_GFLOPS, _layers, estimate_cost

    torch.set_num_threads(1)
    config = ExperimentConfig(**fields, eval_every=100_000, measure_every=100_000)  # type: ignore[arg-type]

    def cpu(run: object) -> float:
        times = []
        for _ in range(2):
            began = time.process_time()
            list(run())  # type: ignore[operator]
            times.append(time.process_time() - began)
        return min(times)

    short, long = config.replace(steps=1), config.replace(steps=PROBE_STEPS + 1)
    list(train(short))  # warm-up: kernels, the data cache
    step_s = (cpu(lambda: train(long)) - cpu(lambda: train(short))) / PROBE_STEPS
    step_flops = (estimate_cost(long).flops - estimate_cost(short).flops) / PROBE_STEPS
    layers = sum(x.count for part in _layers(config) for x in part)
    per_layer = (step_s - step_flops / (REFERENCE_GFLOPS * 1e9)) / layers
    init_s = cpu(lambda: measure_init(config))
    init_extra = init_s - estimate_cost(config, train=False).flops / (REFERENCE_GFLOPS * 1e9)
    return {"step_s": step_s, "layer_step_us": per_layer * 1e6, "setup_layer_steps": init_extra / (layers * per_layer) - 1}


def _in_subprocess(function: str, fields: dict[str, object]) -> dict[str, float]:
    env = os.environ | {"PYTHONPATH": str(ROOT)}
    if function == "measure":  # memory: freed tensors leave the RSS; times are taken without it (every free unmaps)
        env["MALLOC_MMAP_THRESHOLD_"] = "65536"
    code = f"import json, benchmarks.cost_model as m; print(json.dumps(m.{function}({fields!r})))"
    out = subprocess.run([sys.executable, "-c", code], env=env, cwd=ROOT, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _label(fields: dict[str, object]) -> str:
    return ", ".join(f"{k} {v}" for k, v in fields.items())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layer-costs", action="store_true", help="measure serving.cost's per-layer constants instead")
    parser.add_argument("--first-views", action="store_true", help="the first table alone")
    args = parser.parse_args()
    print(f"load average {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    if args.layer_costs:
        print("| kind, norm | probe | paired step CPU s | fixed cost per layer step (us) | setup per layer (layer steps) |")
        print("|---|---|---|---|---|")
        for (kind, norm), fields in LAYER_PROBES.items():
            r = _in_subprocess("measure_layer_cost", fields)
            print(
                f"| {kind}, {norm} | {_label(fields)} | {r['step_s']:.4f} | {r['layer_step_us']:.1f} | {r['setup_layer_steps']:.2f} |"
            )
        return
    print("| first view | estimated s | CPU s | ratio |\n|---|---|---|---|")
    for fields in INIT_VIEWS:
        r = _in_subprocess("measure_init_view", fields)
        print(f"| {_label(fields)} | {r['estimated_s']:.2f} | {r['cpu_s']:.2f} | {r['cpu_s'] / r['estimated_s']:.2f} |")
    if args.first_views:
        return
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
