"""Shattered gradients (Balduzzi et al. 2017, arXiv 1702.08591): dy/dx of a scalar net over a 1-D input grid.

A plain and a residual fully connected stack (the engine's own `build_model`, input 1, output 1)
map a grid of scalars x in [-2, 2] to scalars y. In a deep plain stack dy/dx along the grid looks
like white noise (neighbouring points' gradients are unrelated); with shortcuts it stays like
brown noise (a random walk: neighbours agree). The measure is the autocorrelation of the gradient
sequence along the grid at lags 1..max_lag.

Choices, each as in the paper or said where it is ours:
- Width 200, 24 hidden layers (12 blocks), He init, random biases with std 0.1. With BN a bias
  before BN is subtracted away, so the random bias is BN's shift (beta) instead; without BN it is
  each linear layer's bias. The output layer's bias is random too.
- BN: the paper feeds the whole grid as one minibatch. Here BN normalises with the mean and
  (biased) variance of the grid, computed once and then held fixed while differentiating, so
  dy_i/dx_i is the slope of the function each point sees (in training mode the batch mean would
  add every other point's term to each gradient). The forward values are exactly those of the
  training-mode pass on the grid (tests/test_shattered.py checks it).
- One backward pass of sum(y) gives every dy_i/dx_i at once: with the statistics fixed the points
  are independent.
- Autocorrelation at lag k: sum_i g_i g_{i+k} / sqrt(sum_i g_i^2 * sum_i g_{i+k}^2), the cosine of
  the sequence and its shift (uncentred, so the gradient of a linear map, a constant, scores
  exactly 1; white noise scores about 0).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import asdict
from typing import Any

import torch
from torch import Tensor, nn

from resnet_core.models import Stack, build_model
from resnet_core.specs import GRID, VARIANTS, ShatterSpec


def scalar_net(spec: ShatterSpec, variant: str, seed: int) -> Stack:
    """The engine's plain or residual mlp from 1 input to 1 output, with the paper's random biases (see module doc)."""
    model = build_model(spec.config(seed), variant, in_shape=(1,), n_classes=1)
    generator = torch.Generator().manual_seed(seed * 7919 + 17)  # the same biases for both nets of a seed
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.Linear) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * spec.bias_std)
    return model


def fix_batch_statistics(model: Stack, x: Tensor) -> None:
    """Set every BN's running statistics to those of the batch `x` (biased variance, as training mode uses) and switch to eval."""
    norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm1d)]
    for m in norms:
        m.reset_running_stats()
        m.momentum = None  # cumulative average: after one batch, the batch's own statistics
    model.train()
    with torch.no_grad():
        model(x)
    n = len(x)
    for m in norms:
        m.running_var.mul_((n - 1) / n)  # BN stores the unbiased variance; normalisation used the biased one
    model.eval()


def input_gradient(model: Stack, x: Tensor) -> Tensor:
    """dy_i/dx_i for every grid point (points,), from one backward pass; BN statistics are those of the grid."""
    fix_batch_statistics(model, x)
    x = x.detach().requires_grad_(True)
    model(x).sum().backward()
    return x.grad[:, 0].detach()


def autocorrelation(g: Tensor, max_lag: int) -> Tensor:
    """Uncentred autocorrelation of the sequence g at lags 0..max_lag: the cosine of g and g shifted by k."""
    values = [torch.ones((), dtype=g.dtype)]
    for k in range(1, max_lag + 1):
        a, b = g[:-k], g[k:]
        values.append((a * b).sum() / torch.sqrt((a * a).sum() * (b * b).sum()))
    return torch.stack(values)


def grid(points: int) -> Tensor:
    return torch.linspace(*GRID, points).unsqueeze(1)  # (points, 1)


def shattered_records(spec: ShatterSpec) -> Iterator[dict[str, Any]]:
    """For each seed and net: the gradient curve and its autocorrelation; JSON-ready.

    {"kind": "meta", "spec", "x"}, then per net and seed {"kind": "gradient", "variant", "seed",
    "gradient": [points], "acf": [max_lag + 1], "seconds"}.
    """
    x = grid(spec.points)
    yield {"kind": "meta", "variant": "pair", "spec": asdict(spec), "x": x[:, 0].tolist()}
    for seed in range(spec.seed, spec.seed + spec.seeds):
        for variant in VARIANTS:
            began = time.perf_counter()
            g = input_gradient(scalar_net(spec, variant, seed), x)
            acf = autocorrelation(g.double(), spec.max_lag)
            yield {
                "kind": "gradient",
                "variant": variant,
                "seed": seed,
                "gradient": g.tolist(),
                "acf": acf.tolist(),
                "seconds": time.perf_counter() - began,
            }
