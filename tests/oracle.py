"""An independent functional re-implementation of the paper's stacks, for checking the engine.

It reads only the weights (by name) and the config, and writes the forward pass from the
paper's equations with torch.nn.functional, so a bug in models.py or probes.py cannot
hide in both places at once.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor

from resnet_core.config import ExperimentConfig

ACT = {"relu": F.relu, "tanh": torch.tanh, "sigmoid": torch.sigmoid, "gelu": F.gelu}


def forward(
    weights: dict[str, Tensor], config: ExperimentConfig, variant: str, x: Tensor
) -> tuple[Tensor, list[dict[str, Tensor]]]:
    """Logits and, per block, its output a (grad retained), branch z and shortcut value."""
    g = ACT[config.activation]
    image = config.arch == "cnn"

    def layer(h: Tensor, prefix: str, stride: int = 1) -> Tensor:
        w, b = weights[prefix + ".weight"], weights.get(prefix + ".bias")
        if image:
            pad = w.shape[-1] // 2
            if config.padding == "circular" and pad:  # the map wraps around: row -1 is the last row
                h = torch.cat([h[:, :, -pad:], h, h[:, :, :pad]], dim=2)
                h = torch.cat([h[:, :, :, -pad:], h, h[:, :, :, :pad]], dim=3)
                pad = 0
            return F.conv2d(h, w, b, stride=stride, padding=pad)
        return F.linear(h, w, b)

    def norm(h: Tensor, prefix: str) -> Tensor:
        if config.norm == "none":
            return h
        return F.batch_norm(h, None, None, weights[prefix + ".weight"], weights[prefix + ".bias"], training=True)

    h = g(norm(layer(x, "stem.layer"), "stem.norm"))
    blocks = []
    n_blocks = config.blocks
    per_stage = n_blocks // 3 if image else n_blocks
    for i in range(n_blocks):
        p = f"blocks.{i}"
        stride = 2 if image and i % per_stage == 0 and i > 0 else 1
        if config.block == "pre":  # He et al. 2016, Fig. 4(e): BN and g before each weight layer
            z1 = layer(g(norm(h, p + ".norm1")), p + ".layer1", stride)
            z2 = layer(g(norm(z1, p + ".norm2")), p + ".layer2")
        else:
            z1 = g(norm(layer(h, p + ".layer1", stride), p + ".norm1"))
            z2 = norm(layer(z1, p + ".layer2"), p + ".norm2")
        skip = None
        if variant == "residual":
            if p + ".shortcut.projection.weight" in weights:
                skip = norm(layer(h, p + ".shortcut.projection", stride), p + ".shortcut.norm")
            elif image and (stride != 1 or h.shape[1] != z2.shape[1]):
                sub = h[:, :, ::stride, ::stride]
                skip = torch.cat([sub, torch.zeros(sub.shape[0], z2.shape[1] - h.shape[1], *sub.shape[2:])], dim=1)
            else:
                skip = h
        h = z2 + skip if skip is not None else z2
        h = h if config.block == "pre" else g(h)
        h.retain_grad()
        blocks.append({"out": h, "branch": z2, "skip": skip})
    if config.block == "pre":
        h = g(norm(h, "head.norm"))  # the one BN and g after the last pre-activation unit
    pooled = h.mean(dim=(2, 3)) if image else h
    return F.linear(pooled, weights["fc.weight"], weights["fc.bias"]), blocks


def reference_measurement(model: torch.nn.Module, config: ExperimentConfig, x: Tensor, y: Tensor) -> dict[str, list[float]]:
    """Per-layer ||dL/dW|| and per-block statistics by plain autograd on copies of the model's weights."""
    weights = {k: v.detach().clone().requires_grad_(True) for k, v in model.named_parameters()}
    logits, blocks = forward(weights, config, model.variant, x)
    loss = F.cross_entropy(logits, y)
    loss.backward()
    names = [k for k, v in weights.items() if v.dim() >= 2]
    return {
        "names": names,
        "grad_norm": [weights[k].grad.norm().item() for k in names],
        "act_grad_norm": [b["out"].grad.norm().item() for b in blocks],
        "act_std": [b["branch"].std().item() for b in blocks],
        "branch_ratio": [
            (b["branch"].norm() / b["skip"].norm()).item() if b["skip"] is not None else float("nan") for b in blocks
        ],
        "out_ms": [b["out"].detach().square().mean().item() for b in blocks],
        "loss": [loss.item()],
    }
