"""What "gradient flow" means in the lab, measured without changing what the model computes.

Per weight layer: ||dL/dW||_2 and ||W||_2. Per block: ||dL/da[l]||_2 of the block's output
activation (the quantity the shortcut protects), the std of the branch response z[l+2]
(He et al. 2015, Fig. 7), the residual-branch ratio ||F(x)|| / ||shortcut(x)|| and the mean
square of the block's output a[l+2], the forward signal (Brock et al. 2021's signal propagation).

Every statistic stays a 0-d tensor on the model's device until `Measurement.to_host`
stacks them and copies them once: one host transfer per measured step, no per-layer
`.item()`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.models import Block, Stack
from resnet_core.specs import BLOCK_METRICS


@dataclass(frozen=True)
class LayerInfo:
    """A weight layer: its parameter name, its 1-based position on the main path, and its kind."""

    name: str
    index: int
    kind: str  # "main" (stem, block layers, classifier) or "shortcut" (a projection W_s)


def weight_layers(model: nn.Module) -> list[tuple[LayerInfo, nn.Parameter]]:
    """Conv/linear weights ordered input -> output; a projection sits at its block's last layer."""
    named = [(name, param) for name, param in model.named_parameters() if param.dim() >= 2]
    return list(zip(layer_infos([name for name, _ in named]), [param for _, param in named], strict=True))


def layer_infos(weight_names: list[str]) -> list[LayerInfo]:
    """LayerInfo of each weight (a parameter of 2+ dims) named in named_parameters' order: weight_layers' rule."""
    out, index = [], 0
    for name in weight_names:
        if ".shortcut." in name:
            out.append(LayerInfo(name, index, "shortcut"))
        else:
            index += 1
            out.append(LayerInfo(name, index, "main"))
    return out


class BlockRecorder:
    """Collects per-block statistics during one forward/backward of a Stack, as device tensors."""

    def __init__(self, model: Stack) -> None:
        self.blocks = model.block_list()
        self.position = {id(b): i for i, b in enumerate(self.blocks)}
        n = len(self.blocks)
        self.act_std: list[Tensor | None] = [None] * n
        self.branch_ratio: list[Tensor | None] = [None] * n
        self.act_grad_norm: list[Tensor | None] = [None] * n
        self.out_ms: list[Tensor | None] = [None] * n

    def __enter__(self) -> BlockRecorder:
        for block in self.blocks:
            block.recorder = self
        return self

    def __exit__(self, *exc: object) -> None:
        for block in self.blocks:
            block.recorder = None

    def record(self, block: Block, branch: Tensor, skip: Tensor | None, out: Tensor) -> None:
        i = self.position[id(block)]
        branch = branch.detach()
        self.act_std[i] = branch.std()
        self.out_ms[i] = out.detach().square().mean()
        if skip is not None:
            self.branch_ratio[i] = torch.linalg.vector_norm(branch) / torch.linalg.vector_norm(skip.detach())
        if out.requires_grad:
            out.register_hook(lambda grad, i=i: self._store_grad(i, grad))

    def _store_grad(self, i: int, grad: Tensor) -> None:
        self.act_grad_norm[i] = torch.linalg.vector_norm(grad)  # returns None: the gradient passes unchanged


@dataclass
class Measurement:
    """Per-layer and per-block statistics of one step, still on the device."""

    grad_norm: Tensor  # (layers,)
    weight_norm: Tensor  # (layers,)
    blocks: Tensor  # (len(BLOCK_METRICS), blocks); NaN where a statistic does not exist (plain ratio)

    @staticmethod
    def unflatten(values: list[float], n_layers: int, n_blocks: int) -> dict[str, list[float]]:
        out = {"grad_norm": values[:n_layers], "weight_norm": values[n_layers : 2 * n_layers]}
        rest = values[2 * n_layers :]
        for k, metric in enumerate(BLOCK_METRICS):
            out[metric] = rest[k * n_blocks : (k + 1) * n_blocks]
        return out


def collect(recorder: BlockRecorder, params: list[nn.Parameter], grads: list[Tensor]) -> Measurement:
    """Batch every statistic into three tensors (torch._foreach_norm: one kernel list, no syncs)."""
    device = params[0].device
    grad_norm = torch.stack(torch._foreach_norm(grads))
    weight_norm = torch.stack(torch._foreach_norm([p.detach() for p in params]))
    nan = torch.tensor(math.nan, device=device)
    rows = [[v if v is not None else nan for v in getattr(recorder, m)] for m in BLOCK_METRICS]
    blocks = torch.stack([torch.stack(r) for r in rows]) if recorder.blocks else torch.empty(len(BLOCK_METRICS), 0, device=device)
    return Measurement(grad_norm, weight_norm, blocks)


def measure(model: Stack, x: Tensor, y: Tensor) -> tuple[Tensor, Measurement]:
    """One forward/backward with cross-entropy; returns the loss and the measurement, leaving .grad untouched."""
    layers = weight_layers(model)
    params = [p for _, p in layers]
    with BlockRecorder(model) as recorder:
        loss = F.cross_entropy(model(x), y)
        grads = torch.autograd.grad(loss, params)
    return loss.detach(), collect(recorder, params, list(grads))


def gradient_norms(model: Stack, x: Tensor, y: Tensor) -> dict[str, float]:
    """||dL/dW||_2 of every conv/linear weight after one cross-entropy forward/backward, by parameter name."""
    layers = weight_layers(model)
    _, measurement = measure(model, x, y)
    return dict(zip((info.name for info, _ in layers), measurement.grad_norm.cpu().tolist(), strict=True))
