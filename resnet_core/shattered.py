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
- Shortcuts (`skip`): "block" is the engine's residual MLP, a shortcut around every block of two
  weight layers (He et al.'s basic block, post-activation: two g per shortcut). "layer" is one layer
  per shortcut, x + W g(BN(x)), as in the resnets of Balduzzi et al.'s analysis (as this lab reads
  it), built here from the plain net's own layers (same weights, BN and biases). The two-g block
  shatters far more at 24 layers (docs/SCIENCE_NOTES.md 7).
- One backward pass of sum(y) gives every dy_i/dx_i at once: with the statistics fixed the points
  are independent.
- Device: the nets and their random biases are drawn on the CPU (the same numbers on every machine),
  then moved to `device` ("auto": CUDA, then MPS, then CPU, as for training) for the forward and backward pass.
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
from resnet_core.training import resolve_device


class SkipEveryLayer(nn.Module):
    """Balduzzi et al.'s resnet module around every weight layer of a plain stack: a <- a + W g(BN(a)).

    The plain net's stem, layers, BNs (with their random shifts) and output layer, reordered into
    pre-activation modules with an identity shortcut each.
    """

    def __init__(self, plain: Stack) -> None:
        super().__init__()
        self.stem, self.fc = plain.stem, plain.fc
        units = [(b.norm1, b.activation, b.layer1, b.norm2, b.layer2) for b in plain.block_list()]
        self.units = nn.ModuleList(
            nn.ModuleList(m) for norm1, act, layer1, norm2, layer2 in units for m in ((norm1, act, layer1), (norm2, act, layer2))
        )

    def forward(self, x: Tensor) -> Tensor:
        a = self.stem(x)
        for norm, activation, layer in self.units:
            a = a + layer(activation(norm(a)))
        return self.fc(a)


def scalar_net(spec: ShatterSpec, variant: str, seed: int) -> nn.Module:
    """The engine's plain or residual mlp from 1 input to 1 output, with the paper's random biases (see module doc).

    With skip "layer" the residual net is SkipEveryLayer over the plain net of the same seed.
    """
    model = build_model(spec.config(seed), "plain" if spec.skip == "layer" else variant, in_shape=(1,), n_classes=1)
    generator = torch.Generator().manual_seed(seed * 7919 + 17)  # the same biases for both nets of a seed
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, nn.BatchNorm1d | nn.Linear) and module.bias is not None:
                module.bias.copy_(torch.randn(module.bias.shape, generator=generator) * spec.bias_std)
    return SkipEveryLayer(model) if spec.skip == "layer" and variant == "residual" else model


def fix_batch_statistics(model: nn.Module, x: Tensor) -> None:
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


def input_gradient(model: nn.Module, x: Tensor) -> Tensor:
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


def shattered_records(spec: ShatterSpec, device: str = "cpu") -> Iterator[dict[str, Any]]:
    """For each seed and net: the gradient curve and its autocorrelation; JSON-ready.

    {"kind": "meta", "spec", "x", "device"}, then per net and seed {"kind": "gradient", "variant", "seed",
    "gradient": [points], "acf": [max_lag + 1], "seconds"}.
    """
    where = resolve_device(device)
    x = grid(spec.points)
    yield {"kind": "meta", "variant": "pair", "spec": asdict(spec), "x": x[:, 0].tolist(), "device": where.type}
    x = x.to(where)
    for seed in range(spec.seed, spec.seed + spec.seeds):
        for variant in VARIANTS:
            began = time.perf_counter()
            g = input_gradient(scalar_net(spec, variant, seed).to(where), x).cpu()
            acf = autocorrelation(g.double(), spec.max_lag)
            yield {
                "kind": "gradient",
                "variant": variant,
                "seed": seed,
                "gradient": g.tolist(),
                "acf": acf.tolist(),
                "seconds": time.perf_counter() - began,
            }
