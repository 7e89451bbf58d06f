"""Time per training step of the paper-cifar10 preset, at CIFAR-10 shape, and what a full cell would cost (docs/SCALE.md).

`python -m benchmarks.scale [--device cuda] [--depths 20,56,110] [--steps 12]` trains each depth's
plain/residual pair on synthetic 3x32x32 data (no CIFAR-10 copy needed: the step's work depends on
the shapes, not the pixels) with the preset's batch, augmentation and optimiser, times the steps
after two warm-up steps, and prints a Markdown table: seconds per step (both nets; wall clock, and
this process's CPU time, which a busy shared machine inflates less), the hours of one
64,000-step cell on this device, the cell's FLOPs (training and evaluations; serving.limits.estimate_cost,
the host's analytic count) and the bytes of its records in the result cache, extrapolated from this run.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from resnet_core.config import PRESETS, ExperimentConfig
from resnet_core.training import train
from serving.limits import estimate_cost

WARMUP = 2  # steps not timed: the first allocations and kernel choices


def synthetic(n: int, seed: int = 0) -> tuple[torch.Tensor, ...]:
    """Standard-normal 3x32x32 images and 10 labels: the shapes of CIFAR-10 after standardising."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(2 * n, 3, 32, 32, generator=generator)
    y = torch.randint(0, 10, (2 * n,), generator=generator)
    return x[:n], y[:n], x[n:], y[n:]


def measure(depth: int, steps: int, device: str) -> dict[str, float]:
    """Seconds per step of the preset at `depth`, and the record bytes per step, from a short run of `steps` steps."""
    paper = ExperimentConfig(**PRESETS["paper-cifar10"], depth=depth, data_path="synthetic", device=device)
    probe = paper.replace(steps=WARMUP + steps, eval_every=100_000, measure_every=100_000)
    stamps: list[tuple[float, float]] = []  # (wall, this process's CPU) seconds
    records = []
    for record in train(probe, data=synthetic(1024)):
        records.append(record)
        if record["kind"] == "step" and record["variant"] == "residual":
            if device == "cuda":
                torch.cuda.synchronize()
            stamps.append((time.perf_counter(), time.process_time()))
    timed = len(stamps) - 1 - WARMUP
    wall, cpu = ((stamps[-1][i] - stamps[WARMUP][i]) / timed for i in (0, 1))
    step_bytes = sum(len(json.dumps(r)) for r in records if r["kind"] == "step" and "grad_norm" not in r) / len(stamps)
    return {"depth": depth, "wall": wall, "cpu": cpu, "flops": estimate_cost(paper).flops, "bytes": step_bytes * paper.steps}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda", "mps"))
    parser.add_argument("--depths", default="20,56,110")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads (CPU)")
    parser.add_argument("--steps", type=int, default=12, help="timed steps per depth (after 2 warm-up steps)")
    args = parser.parse_args()
    steps = PRESETS["paper-cifar10"]["steps"]
    torch.set_num_threads(args.threads)
    print(f"device {args.device}, torch threads {torch.get_num_threads()}, {steps:,} steps per cell (plain + residual)\n")
    print("| depth | wall s / step | CPU s / step | hours per cell (wall) | TFLOP per cell | records per cell |")
    print("|---|---|---|---|---|---|")
    for depth in (int(d) for d in args.depths.split(",")):
        m = measure(depth, args.steps, args.device)
        hours = m["wall"] * steps / 3600
        print(
            f"| {depth} | {m['wall']:.3f} | {m['cpu']:.3f} | {hours:,.1f} | {m['flops'] / 1e12:,.0f} | {m['bytes'] / 2**20:.0f} MB |",
            flush=True,
        )


if __name__ == "__main__":
    main()
