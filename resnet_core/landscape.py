"""Loss-landscape slices (Li et al. 2018, arXiv 1712.09913) around the trained weights of a plain/residual pair.

After `train(config)` the loss is evaluated at theta + a*d1 (1-D) and theta + a*d1 + b*d2 (2-D),
with a, b in [-span, span] and d1, d2 random *filter-normalised* directions: each filter (row of a
weight, output channel of a conv: dim 0) of a Gaussian direction is rescaled to the norm of the same
filter of the trained weight, so the scale-invariance of BN nets can't make one net look flatter
than the other. Parameters with one dimension (biases, BN's scale and shift) get a zero direction,
as in the paper's `--xignore biasbn`.

The loss is the mean cross-entropy on the first `samples` training points. BN normalises with the
statistics of those points at every perturbed weight (training-mode BN, nothing stored), so the
surface is that of the function the net computes on the batch; the running statistics of the
trained net would no longer match a perturbed one (the paper evaluates in eval mode on CIFAR-10
after a full run; here they would be stale after a few hundred steps, docs/SCIENCE_NOTES.md).

Each grid point is one forward pass over the `samples` points, all of them as one batch.
"""

from __future__ import annotations

import copy
import math
import time
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.models import VARIANTS, Stack
from resnet_core.training import train


@dataclass(frozen=True)
class SliceSpec:
    """The grid of one landscape measurement.

    The defaults are a coarse grid so that slicing both nets takes a few seconds on one core (each point is
    one forward pass; docs/SCIENCE_NOTES.md 8 has the times and the same table on the finer grid);
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

    def alphas(self, points: int) -> Tensor:
        return torch.linspace(-self.span, self.span, points)


def filter_normalised_direction(model: nn.Module, seed: int) -> dict[str, Tensor]:
    """A Gaussian direction per parameter, each filter scaled to its weight filter's norm; 1-D parameters get 0.

    Seeded per (seed, parameter name), so the plain and the residual net draw the same numbers for the
    parameters they share, each then scaled to its own trained weights.
    """
    direction = {}
    for name, param in model.named_parameters():
        if param.dim() <= 1:
            direction[name] = torch.zeros_like(param)
            continue
        generator = torch.Generator().manual_seed(seed * 1_000_003 + zlib.crc32(name.encode()))
        d = torch.randn(param.shape, generator=generator, dtype=param.dtype).to(param.device)
        weight_norms = param.detach().flatten(1).norm(dim=1)  # (filters,)
        d_norms = d.flatten(1).norm(dim=1).clamp_min(1e-12)
        direction[name] = d * (weight_norms / d_norms).view(-1, *[1] * (param.dim() - 1))
    return direction


def batch_statistics_copy(model: Stack) -> Stack:
    """A copy whose BN layers always normalise with the statistics of the batch they see and store nothing."""
    twin = copy.deepcopy(model)
    for m in twin.modules():
        if isinstance(m, nn.BatchNorm1d | nn.BatchNorm2d):
            m.track_running_stats, m.running_mean, m.running_var, m.num_batches_tracked = False, None, None, None
    return twin.eval()


def slice_losses(model: Stack, x: Tensor, y: Tensor, directions: list[dict[str, Tensor]], coords: Tensor) -> Tensor:
    """Mean cross-entropy at theta + sum_j coords[k, j] * directions[j] for every row k of coords (K, J) -> (K,).

    One forward per grid point into a copy of the net whose weights are overwritten in place; stacking
    the points' weights in a vmapped functional_call was measured slower on CPU (2-3x for the CNN, par
    for the MLP: docs/SCIENCE_NOTES.md, "Loss-landscape slices").
    """
    twin = batch_statistics_copy(model)
    params = dict(twin.named_parameters())
    base = {name: p.detach().clone() for name, p in params.items()}
    losses = torch.empty(len(coords))
    with torch.no_grad():
        for k, row in enumerate(coords.tolist()):
            for name, p in params.items():
                p.copy_(base[name])
                for c, d in zip(row, directions, strict=True):
                    p.add_(d[name], alpha=c)
            losses[k] = F.cross_entropy(twin(x), y)
    return losses


def trained_loss(model: Stack, x: Tensor, y: Tensor) -> float:
    """The loss at the trained weights with the slices' BN convention (batch statistics), for the a = 0 check."""
    with torch.no_grad():
        return float(F.cross_entropy(batch_statistics_copy(model)(x), y))


def landscape_records(config: ExperimentConfig, spec: SliceSpec) -> Iterator[dict[str, Any]]:
    """Train the pair (streaming `train`'s records), then yield each net's 1-D and 2-D slices.

    {"kind": "slice1d", "variant", "alpha": [points_1d], "loss": [[points_1d] per direction], "seconds"}
    {"kind": "slice2d", "variant", "alpha": [points_2d], "loss": [[points_2d] per b] (rows b, columns a), "seconds"}
    """
    models: dict[str, Stack] = {}
    yield from train(config, keep_models=models)
    x_train, y_train, *_ = load_dataset(config)
    for variant in VARIANTS:
        model = models[variant]
        device = next(model.parameters()).device
        x, y = x_train[: spec.samples].to(device), y_train[: spec.samples].to(device)
        dirs = [filter_normalised_direction(model, spec.direction_seed * 100 + j) for j in range(max(spec.directions, 2))]
        began = time.perf_counter()
        a1 = spec.alphas(spec.points_1d)
        lines = [slice_losses(model, x, y, [d], a1.unsqueeze(1)) for d in dirs[: spec.directions]]
        one_d = time.perf_counter()
        yield {
            "kind": "slice1d",
            "variant": variant,
            "alpha": a1.tolist(),
            "loss": [line.cpu().tolist() for line in lines],
            "trained_loss": trained_loss(model, x, y),
            "seconds": one_d - began,
        }
        a2 = spec.alphas(spec.points_2d)
        b, a = torch.meshgrid(a2, a2, indexing="ij")  # rows b (second direction), columns a
        surface = slice_losses(model, x, y, dirs[:2], torch.stack([a.flatten(), b.flatten()], 1))
        yield {
            "kind": "slice2d",
            "variant": variant,
            "alpha": a2.tolist(),
            "loss": surface.view(spec.points_2d, spec.points_2d).cpu().tolist(),
            "seconds": time.perf_counter() - one_d,
        }


CURVATURE_TOLERANCE = 1e-4  # a second difference counts as negative below -this x the slice's loss range (float noise)


def loss_rise(loss: list[float]) -> float:
    """Sharpness of a 1-D slice: the mean loss at the two ends (a = +-span) minus the loss at a = 0."""
    return (loss[0] + loss[-1]) / 2 - loss[len(loss) // 2]


def nonconvex_fraction_1d(loss: list[float]) -> float:
    """Share of the interior points of a 1-D slice where the second difference is negative (the slice bends down)."""
    f = torch.tensor(loss, dtype=torch.float64)
    second = f[:-2] - 2 * f[1:-1] + f[2:]
    return float((second < -CURVATURE_TOLERANCE * (f.max() - f.min())).double().mean())


def nonconvex_fraction_2d(surface: list[list[float]]) -> float:
    """Share of the interior points of a 2-D slice whose finite-difference Hessian has a negative eigenvalue.

    The surface's own version of Li et al.'s |lambda_min / lambda_max| map: a convex bowl has none.
    """
    f = torch.tensor(surface, dtype=torch.float64)
    fbb = f[:-2, 1:-1] - 2 * f[1:-1, 1:-1] + f[2:, 1:-1]  # rows: b
    faa = f[1:-1, :-2] - 2 * f[1:-1, 1:-1] + f[1:-1, 2:]  # columns: a
    fab = (f[2:, 2:] - f[2:, :-2] - f[:-2, 2:] + f[:-2, :-2]) / 4
    smallest = (faa + fbb) / 2 - torch.sqrt(((faa - fbb) / 2) ** 2 + fab**2)  # the smaller eigenvalue of [[faa, fab], [fab, fbb]]
    return float((smallest < -CURVATURE_TOLERANCE * (f.max() - f.min())).double().mean())


def slice_summary(lines: list[list[float]], surface: list[list[float]]) -> dict[str, Any]:
    """One net's sharpness and convexity: the rise and non-convex share of each 1-D slice, the 2-D slice's share."""
    return {
        "rise": [loss_rise(line) for line in lines],
        "nonconvex_1d": [nonconvex_fraction_1d(line) for line in lines],
        "nonconvex_2d": nonconvex_fraction_2d(surface),
    }
