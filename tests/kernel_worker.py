"""A child process for tests/test_kernel_matrix.py: checks one paired-kernel case per stdin line.

A native fault (heap corruption, a segfault) kills this process, not pytest: the test that
sent the case fails with the child's last words, and the next case starts a fresh child.
Each case runs PairedStack on one minibatch, as training's measured step does, and compares
every per-layer and per-block statistic with the unpaired reference (probes.gradient_norms on
each net alone, NCHW) and with the independent oracle (tests/oracle.py).
"""

from __future__ import annotations

import json
import math
import sys
from typing import Any

import torch

from resnet_core import ExperimentConfig, build_pair, load_dataset
from resnet_core.paired import PairedStack
from resnet_core.probes import Measurement, gradient_norms
from resnet_core.specs import VARIANTS
from resnet_core.training import _losses, minibatch_indices
from tests.oracle import reference_measurement

RTOL, ATOL = 1e-4, 1e-6


def mismatches(name: str, got: list[float], want: list[float]) -> list[str]:
    if len(got) != len(want):
        return [f"{name}: {len(got)} values, expected {len(want)}"]
    return [
        f"{name}[{i}]: {g:.6g} != {w:.6g}"
        for i, (g, w) in enumerate(zip(got, want, strict=True))
        if not (math.isnan(g) and math.isnan(w)) and not abs(g - w) <= ATOL + RTOL * abs(w)
    ]


def check(case: dict[str, Any]) -> list[str]:
    """Every disagreement between the paired kernels and the two references, as readable lines."""
    torch.set_num_threads(case.pop("threads"))
    channels_last = case.pop("channels_last")
    config = ExperimentConfig(**case)
    x, y, _, _ = load_dataset(config)
    index = next(minibatch_indices(config, len(x)))
    xb, yb = x[index], y[index]
    nets = build_pair(config)
    pair = PairedStack.of_nets(nets["plain"], nets["residual"], channels_last=channels_last)
    pair.recording = True
    for _ in range(2):  # a second backward reuses whatever the first one left behind in the allocator
        pair.zero_grad(set_to_none=True)
        _losses(pair(xb), yb).sum().backward()
    measured = pair.measurements()
    problems = []
    for v, net in nets.items():
        got = Measurement.unflatten(measured[v].tolist(), len(pair.layers[v]), len(net.block_list()))
        problems += mismatches(f"{v} grad_norm vs gradient_norms", got["grad_norm"], list(gradient_norms(net, xb, yb).values()))
        oracle = reference_measurement(net, config, xb, yb)
        for metric in ("grad_norm", "act_grad_norm", "act_std", "branch_ratio", "out_ms"):
            problems += mismatches(f"{v} {metric} vs oracle", got[metric], oracle[metric])
    assert set(nets) == set(VARIANTS)
    return problems


def main() -> None:
    for line in sys.stdin:
        print(json.dumps(check(json.loads(line))), flush=True)


if __name__ == "__main__":
    main()
