"""Per-block statistics of a PairedStack's measured step: per-channel sums recorded block by block, combined once.

What each statistic means is probes.BlockRecorder's definition (act_grad_norm, act_std, branch_ratio, out_ms);
here every block leaves only per-channel sums (GEMVs, row dot products), or nothing where the block's own BN
already computed them (z's moments from its batch statistics, an identity shortcut's norm from the output
before), and metrics() turns all of them into per-net values with one row sum per run of equal widths: no
per-block reductions, no host syncs.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import TypeVar

import torch
from torch import Tensor

from resnet_core.specs import VARIANTS
from resnet_core.structure import BN_EPS

T = TypeVar("T")
GROUPS = len(VARIANTS)  # group 0 = plain, 1 = residual: the order of VARIANTS


def runs(sizes: list[T]) -> list[tuple[int, T]]:
    """Consecutive equal sizes (or shapes) as (count, size): a run is one (count, size) tensor, not count tensors."""
    out: list[tuple[int, T]] = []
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
        self.positions_per_channel: dict[tuple[tuple[int, ...], tuple[int, ...], torch.device], Tensor] = {}
        self.clear()

    def clear(self) -> None:
        self.positions: list[int] = []  # per block: the positions (samples x pixels) of z
        self.branch_moments: list[tuple[Tensor, Tensor] | None] = []  # per block: Σz, Σz² per channel; None: from its BN
        self.branch_norms: list[tuple[Tensor, Tensor, Tensor]] = []  # per BN-ended branch: γ, β, 1/sqrt(var + eps)
        self.skip_norms: list[Tensor | None] = []  # per block: ||shortcut(a)|| of the residual net; None: from Σa² before
        self.out_squares: list[Tensor] = []  # per block: Σ a[l+2]² per channel
        self.grad_norms: list[Tensor | None] = []  # per block: Σ(dL/da)² per channel, filled during backward

    def ones(self, like: Tensor, length: int) -> Tensor:
        """A ones vector of `length` on like's device, kept across blocks and steps (one per length)."""
        key = (length, like.device, like.dtype)
        if key not in self.vectors:
            self.vectors[key] = like.new_ones(length)
        return self.vectors[key]

    def channel_sums(self, x: Tensor) -> Tensor:
        """Σx per channel, (2 x features,), as one GEMV 1ᵀX over X, the (positions, channels) rows of x (a view in NHWC).

        A GEMV reads its matrix once, where column reductions or a norm over strided dims took several times as long
        (benchmarks/RESULTS.md, "Changes"); not diag(XᵀX), whose wasted products the host's FLOP budget
        (serving.cost.estimate_cost) would have to count. The MLP's (2, N, features): 1ᵀX per net.
        """
        if x.dim() == 3:
            return torch.matmul(self.ones(x, x.shape[1]), x).reshape(-1)
        rows = self._rows(x)
        if rows is not None:
            return torch.mv(rows.T, self.ones(x, rows.shape[0]))
        maps = x.reshape(x.shape[0] * x.shape[1], -1)  # NCHW: (samples x channels, H x W), a view when contiguous
        per_sample = torch.mv(maps, self.ones(x, maps.shape[1])).view(x.shape[0], x.shape[1])
        return torch.mv(per_sample.T, self.ones(x, x.shape[0]))

    @staticmethod
    def square_sums(x: Tensor) -> Tensor:
        """Σx² per channel, (2 x features,), as a row-wise dot product: no squared copy of the map.

        An NCHW map (a gradient often is) is summed per (sample, channel) first, so neither layout is ever copied.
        """
        if x.dim() == 3:  # the MLP's (2, N, features): per net, a dot product over the samples
            return torch.linalg.vecdot(x.transpose(1, 2), x.transpose(1, 2)).reshape(-1)
        rows = BlockStatistics._rows(x)
        if rows is not None:
            return torch.linalg.vecdot(rows.T, rows.T)
        maps = x.reshape(x.shape[0] * x.shape[1], -1)
        return torch.linalg.vecdot(maps, maps).view(x.shape[0], x.shape[1]).sum(0)

    @staticmethod
    def _rows(x: Tensor) -> Tensor | None:
        """A map as (positions, channels) rows, a view, where its layout allows (NHWC); else None."""
        if x.is_contiguous(memory_format=torch.channels_last):
            return x.movedim(1, -1).reshape(-1, x.shape[1])
        return None

    def record(self, branch: Tensor, skip: Tensor | None, out: Tensor, norm: tuple[Tensor, Tensor, Tensor] | None = None) -> None:
        """Per-net block statistics, defined as in probes.BlockRecorder: per-channel sums, combined in metrics().

        `norm`: (γ, β, 1/sqrt(var + eps)) of the training-mode BN that made z, whose per-channel moments follow from
        them without reading z (metrics()). `skip`: None where the shortcut is the identity of the previous block's
        output, whose norm is that output's Σa² (residual half), already recorded.
        """
        # z: (N, 2 x features, H, W), or the MLP's (2, N, features)
        self.positions.append(branch.shape[1] if branch.dim() == 3 else branch.numel() // branch.shape[1])
        if norm is not None:
            self.branch_norms.append(norm)
            self.branch_moments.append(None)
        else:
            z = branch.detach()
            self.branch_moments.append((self.channel_sums(z), self.square_sums(z)))
        if skip is None and not self.out_squares:
            raise ValueError("the first block's shortcut norm has no earlier output to come from")
        # the plain half of skip is zeros: its norm is the residual net's ||skip||
        self.skip_norms.append(None if skip is None else torch.linalg.vector_norm(skip.detach()))
        self.out_squares.append(self.square_sums(out.detach()))  # Σ a[l+2]² per channel
        if out.requires_grad:
            index = len(self.grad_norms)
            self.grad_norms.append(None)

            def store_grad_squares(grad: Tensor) -> None:  # returns None: the gradient passes on unchanged
                self.grad_norms[index] = self.square_sums(grad)  # Σ (dL/da)² per channel

            out.register_hook(store_grad_squares)

    @torch.no_grad()
    def _norm_moments(self) -> list[Tensor]:
        """Σz and Σz² per channel of every BN-ended branch, from γ, β and 1/sqrt(var + eps) alone, in one pass.

        In training mode z = γ x̂ + β with x̂ normalised over the batch: Σx̂ = 0 and Σx̂² = P var / (var + eps)
        per channel, so Σz = P β and Σz² = P (γ² (1 - eps / (var + eps)) + β²), P the positions per channel.
        """
        gamma, beta, inv_std = (torch.cat(parts).double() for parts in zip(*self.branch_norms, strict=True))
        counts = [p for p, m in zip(self.positions, self.branch_moments, strict=True) if m is None]
        key = (tuple(counts), tuple(len(n[0]) for n in self.branch_norms), gamma.device)
        if key not in self.positions_per_channel:  # built on the host once: repeat_interleave on tensors syncs
            per_channel = [float(c) for c, w in zip(key[0], key[1], strict=True) for _ in range(w)]
            self.positions_per_channel[key] = torch.tensor(per_channel, dtype=torch.float64, device=gamma.device)
        positions = self.positions_per_channel[key]
        sums = positions * beta
        squares = positions * (gamma.square() * (1 - BN_EPS * inv_std.square()) + beta.square())
        return [sums.float(), squares.float()]

    def metrics(self) -> Tensor | None:
        """(2, len(BLOCK_METRICS), blocks): act_grad_norm, act_std, branch_ratio, out_ms per net; NaN where undefined.

        Every block's per-channel sums are added up per net by one row sum per run of equal widths.
        var = E[z²] - E[z]² per net, in float64 from the float32 sums: it loses digits only when every
        channel's mean dwarfs the net's spread, which BN (mean β, spread γ per channel) does not produce.
        Called before the optimizer steps: the BN-ended branches' γ and β are views of the weights.
        """
        if not self.branch_moments:
            return None
        blocks = len(self.branch_moments)
        widths = [len(s) for s in self.out_squares]
        from_norms: Iterator[tuple[Tensor, ...]] = iter(())
        if self.branch_norms:
            bn_widths = [w for w, m in zip(widths, self.branch_moments, strict=True) if m is None]
            from_norms = zip(*(s.split(bn_widths) for s in self._norm_moments()), strict=True)
        moments = [m if m is not None else next(from_norms) for m in self.branch_moments]
        grads = [g for g in self.grad_norms if g is not None]
        has_grads = len(grads) == blocks
        sums = [m[0] for m in moments] + [m[1] for m in moments] + self.out_squares
        sums += grads if has_grads else [torch.zeros_like(s) for s in self.out_squares]
        pieces = torch.cat(sums).split([count * GROUPS * width for count, width in self.width_runs])
        per_net = torch.cat([p.view(-1, width).sum(1) for p, (_, width) in zip(pieces, self.width_runs, strict=True)])
        per_net = per_net.view(4, blocks, GROUPS).double()  # Σz, Σz², Σa², Σ(dL/da)² per block and net
        count = torch.tensor([[p * w // GROUPS] for p, w in zip(self.positions, widths, strict=True)], device=per_net.device)
        count = count.double()
        var = (per_net[1] / count - (per_net[0] / count) ** 2).clamp_min(0)  # (blocks, 2), biased
        act_std = (var * count / (count - 1)).sqrt().float()  # unbiased, like Tensor.std() over one net's elements
        nan = torch.full_like(act_std, math.nan)
        grad_norms = per_net[3].sqrt().float() if has_grads else nan
        ratio = torch.stack([nan[:, 0], (per_net[1, :, 1].sqrt() / self._skip_norms(per_net[2, :, 1])).float()], dim=1)
        return torch.stack([grad_norms, act_std, ratio, (per_net[2] / count).float()]).permute(2, 0, 1)

    def _skip_norms(self, out_squares: Tensor) -> Tensor:
        """||shortcut(a)|| of the residual net per block (float64): recorded, or an identity's input norm, sqrt(Σa²) before."""
        previous = torch.cat([out_squares.new_zeros(1), out_squares[:-1]]).sqrt()  # each block's input, the output before it
        recorded = [i for i, norm in enumerate(self.skip_norms) if norm is not None]
        index = torch.tensor(recorded, device=out_squares.device)
        values = torch.stack([self.skip_norms[i] for i in recorded]).double()
        return previous.index_put((index,), values)
