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

Each grid point is one forward pass of both nets (the paired engine) over the `samples` points, as one batch.
"""

from __future__ import annotations

import copy
import time
import zlib
from collections.abc import Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.models import Stack
from resnet_core.paired import PairedStack
from resnet_core.specs import VARIANTS, SliceSpec
from resnet_core.training import train


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


def stacked_direction(nets: dict[str, Stack], direction: dict[str, dict[str, Tensor]]) -> Tensor:
    """One direction of both nets ({variant: {parameter: tensor}}) laid out as the pair's flat parameter."""
    states = [direction[v] | {n: b for n, b in nets[v].named_buffers() if b.dim() == 1} for v in VARIANTS]
    return PairedStack(nets["plain"].spec, *states).flat.detach()


def slice_losses(
    nets: dict[str, Stack], x: Tensor, y: Tensor, directions: list[dict[str, dict[str, Tensor]]], coords: Tensor
) -> dict[str, Tensor]:
    """Each net's mean cross-entropy at theta + sum_j coords[k, j] * directions[j] for every row k of coords (K, J).

    Both nets are moved and evaluated together, one paired forward per grid point (resnet_core/paired.py: the
    nets' kernels are shared, so a point costs about 0.6x two forwards of the nets alone, docs/SCIENCE_NOTES.md 8);
    BN uses the batch's statistics (training mode on a throwaway pair: the nets' own statistics are untouched).
    Stacking several grid points in one vmapped functional_call was measured slower on CPU.
    """
    pair = PairedStack.of_nets(nets["plain"], nets["residual"]).train()
    steps = [stacked_direction(nets, d) for d in directions]
    base = pair.flat.detach().clone()
    losses = torch.empty(len(coords), len(VARIANTS), device=x.device)
    with torch.no_grad():
        for k, row in enumerate(coords.tolist()):
            pair.flat.copy_(base)
            for c, step in zip(row, steps, strict=True):
                if c:
                    pair.flat.add_(step, alpha=c)
            logits = pair(x)  # (2, batch, classes)
            losses[k] = torch.stack([F.cross_entropy(logits[g], y) for g in range(len(VARIANTS))])
    return {v: losses[:, g].cpu() for g, v in enumerate(VARIANTS)}


def trained_loss(model: Stack, x: Tensor, y: Tensor) -> float:
    """The loss at the trained weights with the slices' BN convention (batch statistics), for the a = 0 check."""
    with torch.no_grad():
        return float(F.cross_entropy(batch_statistics_copy(model)(x), y))


def landscape_records(config: ExperimentConfig, spec: SliceSpec) -> Iterator[dict[str, Any]]:
    """Train the pair (streaming `train`'s records), then yield each net's 1-D and 2-D slices.

    {"kind": "slice1d", "variant", "alpha": [points_1d], "loss": [[points_1d] per direction], "trained_loss", "seconds"}
    {"kind": "slice2d", "variant", "alpha": [points_2d], "loss": [[points_2d] per b] (rows b, columns a), "seconds"}
    "seconds" is the time of all slices of both nets, computed together.
    """
    models: dict[str, Stack] = {}
    yield from train(config, keep_models=models)
    x_train, y_train, *_ = load_dataset(config)
    device = next(models["plain"].parameters()).device
    x, y = x_train[: spec.samples].to(device), y_train[: spec.samples].to(device)
    n_dirs = max(spec.directions, 2)
    dirs = [{v: filter_normalised_direction(models[v], spec.direction_seed * 100 + j) for v in VARIANTS} for j in range(n_dirs)]
    a1, a2 = spec.alphas(spec.points_1d), spec.alphas(spec.points_2d)
    b, a = torch.meshgrid(a2, a2, indexing="ij")  # rows b (second direction), columns a
    # every grid point as one row of coordinates over all directions: the 1-D lines (one direction each), then the 2-D grid
    lines = torch.zeros(spec.directions, spec.points_1d, n_dirs)
    for j in range(spec.directions):
        lines[j, :, j] = a1
    grid = torch.zeros(spec.points_2d**2, n_dirs)
    grid[:, 0], grid[:, 1] = a.flatten(), b.flatten()
    began = time.perf_counter()
    losses = slice_losses(models, x, y, dirs, torch.cat([lines.flatten(0, 1), grid]))
    seconds = time.perf_counter() - began  # both nets, every point: they are evaluated together
    n_line = spec.directions * spec.points_1d
    for variant in VARIANTS:
        loss = losses[variant]
        yield {
            "kind": "slice1d",
            "variant": variant,
            "alpha": a1.tolist(),
            "loss": loss[:n_line].view(spec.directions, spec.points_1d).tolist(),
            "trained_loss": trained_loss(models[variant], x, y),
            "seconds": seconds,
        }
        yield {
            "kind": "slice2d",
            "variant": variant,
            "alpha": a2.tolist(),
            "loss": loss[n_line:].view(spec.points_2d, spec.points_2d).tolist(),
            "seconds": seconds,
        }
