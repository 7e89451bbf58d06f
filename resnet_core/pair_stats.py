"""Per-block statistics of a PairedStack's measured step: per-channel sums recorded block by block, combined once.

What each statistic means is probes.BlockRecorder's definition (act_grad_norm, act_std, branch_ratio, out_ms);
here every block leaves only per-channel sums (GEMVs), and metrics() turns all of them into per-net values
with one row sum per run of equal widths: no per-block reductions, no host syncs.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from resnet_core.specs import VARIANTS

GROUPS = len(VARIANTS)  # group 0 = plain, 1 = residual: the order of VARIANTS


def features_last(x: Tensor) -> Tensor:
    """The MLP's (2, batch, features) activations as (batch, 2 x features), [plain | residual]: BN's channel layout."""
    return x.transpose(0, 1).reshape(x.shape[1], -1)


def runs(sizes: list[int]) -> list[tuple[int, int]]:
    """Consecutive equal sizes as (count, size): a run is reduced as one (count, size) matrix, not count tensors."""
    out: list[tuple[int, int]] = []
    for size in sizes:
        count = out.pop()[0] + 1 if out and out[-1][1] == size else 1
        out.append((count, size))
    return out


class BlockStatistics:
    """The sums one measured forward and backward leave per block, and the per-net metrics made from them."""

    def __init__(self, widths: list[int]) -> None:
        # the blocks' per-channel sums, concatenated (Σz, Σz², Σa², Σ(dL/da)²; blocks in order), are 2 x width long:
        # one row sum per run of equal widths adds them up per net (metrics()), deterministic on every device
        self.width_runs = runs(widths * 4)
        self.vectors: dict[tuple[int, torch.device, torch.dtype], Tensor] = {}  # ones() vectors
        self.clear()

    def clear(self) -> None:
        self.branch_moments: list[tuple[int, Tensor, Tensor]] = []  # per block: positions, Σz and Σz² per channel (2 x features,)
        self.skip_norms: list[Tensor] = []  # per block: ||shortcut(a)|| of the residual net
        self.out_squares: list[Tensor] = []  # per block: Σ a[l+2]² per channel
        self.grad_norms: list[Tensor | None] = []  # per block: Σ(dL/da)² per channel, filled during backward

    def ones(self, like: Tensor, length: int) -> Tensor:
        """A ones vector of `length` on like's device, kept across blocks and steps (one per length)."""
        key = (length, like.device, like.dtype)
        if key not in self.vectors:
            self.vectors[key] = like.new_ones(length)
        return self.vectors[key]

    def channel_sums(self, x: Tensor, square: bool) -> Tensor:
        """Σx (or Σx²) per channel, (2 x features,), as one GEMV 1ᵀX over X, the (positions, channels) rows of x.

        A GEMV reads its matrix once, where column reductions, a centred copy or a norm over strided dims took
        several times as long (benchmarks/RESULTS.md, "Changes"); not diag(XᵀX), whose wasted products the host's
        FLOP budget (serving.cost.estimate_cost) would have to count. Rows are a view in NHWC and in the MLP; an
        NCHW map (a gradient often is) is summed per (sample, channel) first, so neither layout is ever copied.
        """
        x = x.square() if square else x
        if x.dim() == 3:  # the MLP's (2, N, features): 1ᵀX per net, [plain | residual]
            return torch.matmul(self.ones(x, x.shape[1]), x).reshape(-1)
        if x.dim() == 2 or x.is_contiguous(memory_format=torch.channels_last):
            rows = x.movedim(1, -1).reshape(-1, x.shape[1])  # (positions, channels), a view
            return torch.mv(rows.T, self.ones(x, rows.shape[0]))
        maps = x.reshape(x.shape[0] * x.shape[1], -1)  # (samples x channels, H x W), a view when contiguous
        per_sample = torch.mv(maps, self.ones(x, maps.shape[1])).view(x.shape[0], x.shape[1])
        return torch.mv(per_sample.T, self.ones(x, x.shape[0]))

    def record(self, branch: Tensor, skip: Tensor, out: Tensor) -> None:
        """Per-net block statistics, defined as in probes.BlockRecorder: per-channel sums (GEMVs), combined in metrics()."""
        z = branch.detach()  # (N, 2 x features, H, W), or (2, N, features) in the MLP
        positions = z.shape[1] if z.dim() == 3 else z.numel() // z.shape[1]
        self.branch_moments.append((positions, self.channel_sums(z, False), self.channel_sums(z, True)))
        self.skip_norms.append(torch.linalg.vector_norm(skip.detach()))  # the plain half is zeros: the residual net's ||skip||
        self.out_squares.append(self.channel_sums(out.detach(), True))  # Σ a[l+2]² per channel
        if out.requires_grad:
            index = len(self.grad_norms)
            self.grad_norms.append(None)

            def store_grad_squares(grad: Tensor) -> None:  # returns None: the gradient passes on unchanged
                self.grad_norms[index] = self.channel_sums(grad, True)  # Σ (dL/da)² per channel

            out.register_hook(store_grad_squares)

    def metrics(self) -> Tensor | None:
        """(2, len(BLOCK_METRICS), blocks): act_grad_norm, act_std, branch_ratio, out_ms per net; NaN where undefined.

        Every block's per-channel sums are added up per net by one row sum per run of equal widths.
        var = E[z²] - E[z]² per net, in float64 from the float32 sums: it loses digits only when every
        channel's mean dwarfs the net's spread, which BN (mean β, spread γ per channel) does not produce.
        """
        if not self.branch_moments:
            return None
        blocks = len(self.branch_moments)
        grads = [g for g in self.grad_norms if g is not None]
        has_grads = len(grads) == blocks
        sums = [m[1] for m in self.branch_moments] + [m[2] for m in self.branch_moments] + self.out_squares
        sums += grads if has_grads else [torch.zeros_like(m[2]) for m in self.branch_moments]
        pieces = torch.cat(sums).split([count * GROUPS * width for count, width in self.width_runs])
        per_net = torch.cat([p.view(-1, width).sum(1) for p, (_, width) in zip(pieces, self.width_runs, strict=True)])
        per_net = per_net.view(4, blocks, GROUPS).double()  # Σz, Σz², Σa², Σ(dL/da)² per block and net
        count = torch.tensor([[m[0] * m[1].numel() // GROUPS] for m in self.branch_moments], device=per_net.device).double()
        var = (per_net[1] / count - (per_net[0] / count) ** 2).clamp_min(0)  # (blocks, 2), biased
        act_std = (var * count / (count - 1)).sqrt().float()  # unbiased, like Tensor.std() over one net's elements
        branch_norm = per_net[1, :, 1].sqrt().float()  # ||z|| of the residual net
        nan = torch.full_like(act_std, math.nan)
        grad_norms = per_net[3].sqrt().float() if has_grads else nan
        ratio = torch.stack([nan[:, 0], branch_norm / torch.stack(self.skip_norms)], dim=1)
        return torch.stack([grad_norms, act_std, ratio, (per_net[2] / count).float()]).permute(2, 0, 1)
