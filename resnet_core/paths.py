"""Paths through a residual net (Veit, Wilber & Belongie 2016, arXiv 1605.06431, Sec. 5): how many, how much gradient.

Unrolled, a stack of n residual blocks is 2^n paths: each block is passed either through its
branch F or through its shortcut, and a path's length is the number of branches on it. The
lengths are therefore Binomial(n, 1/2) distributed (`path_lengths`).

The gradient carried by paths of length k is measured with the paper's sampling method: one full
forward pass (the values are the real net's), and in the backward pass k randomly chosen blocks
pass the gradient through their branch only and the other n - k through their shortcut only
(`routed_forward` does it with detach(), which changes no value). The norm of the gradient that
arrives at the input of the first block is the gradient of one path of length k; times the
number of such paths, C(n, k), it estimates the total gradient of all paths of length k
(their Fig. 6; magnitudes add up, cancellation between paths ignored, as in the paper).

Measured in eval mode, so BatchNorm is the fixed per-channel affine map of its running statistics
and every sample's gradient is its own (in train mode BN's batch statistics would couple them).
By the chain rule, the routed gradients of all 2^n subsets add up exactly to the full gradient
(tests/test_lesion.py checks it on a small net).

`path_study` measures a trained pair (lesion.after_training runs it after `train()`) and yields
    {"kind": "paths", "variant": "residual", "k", "count", "share", "grad_mean", "grad_std", "draws"}
"""

from __future__ import annotations

import math
from collections.abc import Collection, Iterator
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor

from resnet_core.config import ExperimentConfig
from resnet_core.models import Stack
from resnet_core.specs import PATH_BATCH, PATH_DRAWS


def path_lengths(n: int) -> list[float]:
    """Share of the 2^n paths that pass through k branches, k = 0..n: C(n, k) / 2^n."""
    return [math.comb(n, k) / 2**n for k in range(n + 1)]


def routed_forward(model: Stack, x: Tensor, branches: Collection[int]) -> tuple[Tensor, Tensor]:
    """(logits, a0): the full forward pass, with the backward routed through the branch of the 0-based blocks
    in `branches` and through the shortcut of every other block. a0 is the first block's input (a leaf)."""
    a0 = model.stem(x).detach().requires_grad_(True)
    out = a0
    for i, block in enumerate(model.block_list()):
        if block.shortcut is None:
            raise ValueError("paths: a plain net has one path through every block; paths need the residual net")
        branch, skip = block.branch(out), block.shortcut(out)
        out = block.join(branch, skip.detach()) if i in branches else block.join(branch.detach(), skip)
    return model.classify(out), a0


def path_gradient(model: Stack, x: Tensor, y: Tensor, branches: Collection[int]) -> Tensor:
    """dL/da0 through the one path that takes the branches of `branches` and the shortcuts elsewhere."""
    logits, a0 = routed_forward(model, x, branches)
    (grad,) = torch.autograd.grad(F.cross_entropy(logits, y), a0)
    return grad


def path_gradients(model: Stack, x: Tensor, y: Tensor, draws: int, seed: int) -> Iterator[dict[str, Any]]:
    """Per path length k = 0..n: the mean and spread of ||dL/da0|| over `draws` random paths of that length."""
    n = len(model.block_list())
    shares = path_lengths(n)
    generator = torch.Generator().manual_seed(seed)
    model.eval()
    for k in range(n + 1):
        samples = draws if 0 < k < n else 1  # k = 0 and k = n are one path each
        paths = [set(torch.randperm(n, generator=generator)[:k].tolist()) for _ in range(samples)]
        norms = torch.stack([path_gradient(model, x, y, branches).norm() for branches in paths])
        yield {
            "kind": "paths",
            "variant": "residual",
            "k": k,
            "count": math.comb(n, k),
            "share": shares[k],
            "grad_mean": float(norms.mean()),
            "grad_std": float(norms.std()) if samples > 1 else 0.0,
            "draws": samples,
        }


def path_study(
    models: dict[str, Stack], data: tuple[Tensor, ...], config: ExperimentConfig, draws: int = PATH_DRAWS
) -> Iterator[dict[str, Any]]:
    """The trained residual net's gradient per path length, on PATH_BATCH training images drawn with the seed."""
    x_train, y_train, _, _ = data
    generator = torch.Generator().manual_seed(config.seed)
    index = torch.randperm(len(x_train), generator=generator)[:PATH_BATCH].to(x_train.device)
    yield from path_gradients(models["residual"], x_train[index], y_train[index], draws, config.seed)
