"""The no-BN "vanishing" on 8x8 digits against padding and input size, over seeds (docs/SCIENCE_NOTES.md 6).

At initialisation (CNN-56, width 8, no normalisation, He init) it measures, per seed, the first / last
block ratio of ||dL/da|| (the backward signal) and of the forward mean square, and the first / last
weight-gradient ratio, for zero vs circular padding and the digits at 8 vs 32 pixels. Each number is
the engine's own record (`measure_init`), read by the Gradient Flow page's functions.

    RESNET_LAB_THREADS=1 python -m benchmarks.padding_size --seeds 10
"""

from __future__ import annotations

import argparse
import math
import statistics

import torch

from lab.gradient_flow import block_ratio
from resnet_core import ExperimentConfig
from resnet_core.results import RunLog
from resnet_core.training import measure_init

CASES = (("zeros", 8), ("circular", 8), ("zeros", 16), ("zeros", 32), ("circular", 32))


def ratios(config: ExperimentConfig) -> dict[str, float]:
    """First / last ratios of one seed: backward signal, forward mean square (input side / output side), weight gradient."""
    log = RunLog(config).extend(measure_init(config))
    blocks = log.block_frame()
    out = {}
    for variant in ("plain", "residual"):
        out[f"{variant} dL/da"] = block_ratio(blocks, variant, "act_grad_norm")
        out[f"{variant} out_ms"] = block_ratio(blocks, variant, "out_ms")
        out[f"{variant} dL/dW"] = log.ratio(variant)
    return out


def summary(values: list[float]) -> str:
    """Geometric mean [min, max]: the ratios span decades."""
    finite = [v for v in values if math.isfinite(v) and v > 0]
    if len(finite) < len(values):
        return f"{len(values) - len(finite)} of {len(values)} not measurable"
    centre = math.exp(statistics.fmean(math.log(v) for v in finite))
    return f"{centre:.2g} [{min(finite):.2g}, {max(finite):.2g}]"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--depth", type=int, default=56)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = ExperimentConfig(depth=args.depth, width=8, norm="none")
    print(f"depth {args.depth}, width 8, no norm, He init, seeds 0-{args.seeds - 1}: geometric mean [min, max]")
    for padding, size in CASES:
        per_seed = [ratios(base.replace(padding=padding, image_size=size, seed=s)) for s in range(args.seeds)]
        cells = {key: summary([r[key] for r in per_seed]) for key in per_seed[0]}
        print(f"| {padding}, {size}x{size} | " + " | ".join(f"{k}: {v}" for k, v in cells.items()) + " |", flush=True)


if __name__ == "__main__":
    main()
