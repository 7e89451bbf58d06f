"""What the engine computes, named without torch: the web server labels, prices and reads records with these.

The server process never loads torch (only the job workers run the engine, serving/jobs.py), yet it
needs the engine's vocabulary: the two variants, the shortcut options' wording, the per-block metrics
a record holds, the sizes a cost estimate counts, the landscape studies' specs and the summary of a
loss slice. They live here, once; the torch modules import them from here.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from resnet_core.config import NORMS, ExperimentConfig

VARIANTS = ("plain", "residual")
BLOCK_METRICS = ("act_grad_norm", "act_std", "branch_ratio", "out_ms")  # per-block rows of a measurement (probes.py)
EVAL_BATCH = 1024  # samples per evaluation chunk (evaluation.evaluate)
DRAWS = 5  # random subsets per k: Veit et al. average over random deletions too (lesion.py)
PATH_DRAWS = 10  # random block subsets per path length (paths.py)
PATH_BATCH = 256  # training images the gradient is measured on (paths.py)


@dataclass(frozen=True)
class SliceSpec:
    """The grid of one landscape measurement.

    The defaults are a coarse grid so that slicing both nets takes a few seconds on one core (each point is
    one paired forward pass of both nets; docs/SCIENCE_NOTES.md 8 has the times and the same table on the finer grid);
    `python -m resnet_core landscape --points-2d 25 --samples 512` computes a finer one.
    """

    span: float = 1.0  # a, b in [-span, span]; the paper plots [-1, 1]
    points_1d: int = 13  # points of each 1-D slice (odd, so a = 0 is on the grid): steps of span / 6
    points_2d: int = 9  # points per axis of the 2-D slice (odd): steps of span / 4
    directions: int = 3  # independent 1-D directions: the spread of the 1-D summary
    samples: int = 128  # training points the loss is averaged over
    direction_seed: int = 0  # seeds the random directions

    def __post_init__(self) -> None:
        allowed = {
            "span": (0.01 <= self.span <= 10.0 and math.isfinite(self.span), "0.01 to 10"),
            "points_1d": (5 <= self.points_1d <= 201 and self.points_1d % 2 == 1, "odd, 5 to 201"),
            "points_2d": (5 <= self.points_2d <= 61 and self.points_2d % 2 == 1, "odd, 5 to 61"),
            "directions": (1 <= self.directions <= 10, "1 to 10"),
            "samples": (8 <= self.samples <= 10_000, "8 to 10000"),
            "direction_seed": (0 <= self.direction_seed <= 1_000_000, "0 to 1000000"),
        }
        for name, (ok, text) in allowed.items():
            if not ok:
                raise ValueError(f"{name}: {getattr(self, name)!r} is out of range; allowed: {text}")

    def alphas(self, points: int) -> Any:
        """The grid's coordinates as a torch tensor (only the worker computing the slice calls this)."""
        import torch

        return torch.linspace(-self.span, self.span, points)


GRID = (-2.0, 2.0)  # the input range of the paper's Figure 1
SKIPS = ("block", "layer")


@dataclass(frozen=True)
class ShatterSpec:
    """One shattered-gradients measurement: both nets, `seeds` random draws each (seeds seed .. seed+seeds-1)."""

    depth: int = 24  # hidden layers, even (blocks of two); the paper's 24-layer nets
    width: int = 200  # the paper's width
    norm: str = "batch"  # "batch" or "none"
    bias_std: float = 0.1  # the paper's random biases
    points: int = 256  # grid points in [-2, 2]
    seeds: int = 5  # independent draws of the weights, for the spread
    seed: int = 0
    max_lag: int = 20
    skip: str = "block"  # the residual net's shortcuts: around every two-layer block (the engine's) or every layer

    def __post_init__(self) -> None:
        checks = {
            "depth": self.depth >= 2 and self.depth % 2 == 0 and self.depth <= 200,
            "width": 1 <= self.width <= 1024,
            "norm": self.norm in NORMS,
            "bias_std": 0.0 <= self.bias_std <= 10.0 and math.isfinite(self.bias_std),
            "points": 16 <= self.points <= 4096,
            "seeds": 1 <= self.seeds <= 50,
            "seed": 0 <= self.seed < 2**31 - 50,
            "max_lag": 1 <= self.max_lag < self.points // 2,
            "skip": self.skip in SKIPS,
        }
        allowed = {
            "depth": "even, 2 to 200",
            "width": "1 to 1024",
            "norm": ", ".join(NORMS),
            "bias_std": "0 to 10",
            "points": "16 to 4096",
            "seeds": "1 to 50",
            "seed": f"0 to {2**31 - 51}",
            "max_lag": "1 to points/2 - 1",
            "skip": ", ".join(SKIPS),
        }
        for name, ok in checks.items():
            if not ok:
                raise ValueError(f"{name}: {getattr(self, name)!r} is out of range; allowed: {allowed[name]}")

    @property
    def shortcuts(self) -> int:
        """The residual net's shortcuts: one per two-layer block (the engine's nets) or one per layer."""
        return self.depth // 2 if self.skip == "block" else self.depth

    def config(self, seed: int) -> ExperimentConfig:
        """The engine config of the mlp measured: the dataset is irrelevant (input and output are given), nothing trains."""
        return ExperimentConfig(
            arch="mlp", dataset="moons", depth=self.depth, width=self.width, norm=self.norm, seed=seed, steps=0
        )


CURVATURE_TOLERANCE = 1e-4  # a second difference counts as negative below -this x the slice's loss range (float noise)


def loss_rise(loss: list[float]) -> float:
    """Sharpness of a 1-D slice: the mean loss at the two ends (a = +-span) minus the loss at a = 0."""
    return (loss[0] + loss[-1]) / 2 - loss[len(loss) // 2]


def nonconvex_fraction_1d(loss: list[float]) -> float:
    """Share of the interior points of a 1-D slice where the second difference is negative (the slice bends down)."""
    f = np.asarray(loss, dtype=np.float64)
    second = f[:-2] - 2 * f[1:-1] + f[2:]
    return float((second < -CURVATURE_TOLERANCE * (f.max() - f.min())).mean())


def nonconvex_fraction_2d(surface: list[list[float]]) -> float:
    """Share of the interior points of a 2-D slice whose finite-difference Hessian has a negative eigenvalue.

    The surface's own version of Li et al.'s |lambda_min / lambda_max| map: a convex bowl has none.
    """
    f = np.asarray(surface, dtype=np.float64)
    fbb = f[:-2, 1:-1] - 2 * f[1:-1, 1:-1] + f[2:, 1:-1]  # rows: b
    faa = f[1:-1, :-2] - 2 * f[1:-1, 1:-1] + f[1:-1, 2:]  # columns: a
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / 4
    smallest = (faa + fbb) / 2 - np.sqrt(((faa - fbb) / 2) ** 2 + fab**2)  # the smaller eigenvalue of [[faa, fab], [fab, fbb]]
    return float((smallest < -CURVATURE_TOLERANCE * (f.max() - f.min())).mean())


def slice_summary(lines: list[list[float]], surface: list[list[float]]) -> dict[str, Any]:
    """One net's sharpness and convexity: the rise and non-convex share of each 1-D slice, the 2-D slice's share."""
    return {
        "rise": [loss_rise(line) for line in lines],
        "nonconvex_1d": [nonconvex_fraction_1d(line) for line in lines],
        "nonconvex_2d": nonconvex_fraction_2d(surface),
    }
