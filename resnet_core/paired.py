"""Batched pair execution: the plain and the residual net of a pair as one computation.

A training step of one small net is overhead-bound (hundreds of tiny kernels), so running
both nets of a pair in the same kernels costs far less than running them one after the
other (benchmarks/RESULTS.md, "pairing"). The two nets share every shape, so each layer's
tensors are stacked along the output features, [plain | residual]: a block conv becomes a
grouped conv (groups=2), a linear layer a batched matmul, BatchNorm normalises 2C channels
(its statistics are per channel, hence per net), and the shortcut is added to the residual
half only (the plain half gets + 0, which changes no value). Projection shortcuts exist in
the residual net alone and run on its half.

Nothing mixes the halves, so each net computes what it computes alone, up to the order of
float sums; tests/test_paired.py checks that against the two nets trained one by one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.models import Block, IdentityShortcut, ProjectionShortcut, Stack, ZeroPadShortcut
from resnet_core.probes import weight_layers
from resnet_core.specs import VARIANTS

GROUPS = len(VARIANTS)  # group 0 = plain, 1 = residual: the order of VARIANTS


def _key(name: str) -> str:
    return name.replace(".", "/")  # module registries refuse dots in names


class PairedStack(nn.Module):
    """Both nets of a pair in stacked tensors; forward(x) returns logits shaped (2, batch, classes)."""

    def __init__(self, plain: Stack, residual: Stack, channels_last: bool = True) -> None:
        super().__init__()
        self.image = plain.image
        # NHWC spares oneDNN a layout reorder around every conv (benchmarks/RESULTS.md, "Changes": channels_last)
        self.memory_format = torch.channels_last if channels_last and plain.image else torch.contiguous_format
        self.activation = plain.stem.activation  # stateless, the same in both nets
        plain_params, residual_params = dict(plain.named_parameters()), dict(residual.named_parameters())
        plain_buffers, residual_buffers = dict(plain.named_buffers()), dict(residual.named_buffers())
        # Every parameter lives in one flat tensor, weight layers first: the optimizer updates one tensor, and the
        # per-layer norms are one _foreach_norm over one split of it and of its gradient (measurements()).
        names = sorted(residual_params, key=lambda n: residual_params[n].dim() < 2)  # stable: layer order kept
        with torch.no_grad():
            tensors = [
                torch.cat([plain_params[n], residual_params[n]]) if n in plain_params else residual_params[n] for n in names
            ]
            stored = [self._storage_order(t) for t in tensors]
            self.flat = nn.Parameter(torch.cat([t.reshape(-1) for t in stored]))
            for name, buffer in residual_buffers.items():
                if buffer.dim() == 1:  # running mean / var; num_batches_tracked is unused at momentum 0.1
                    stacked = torch.cat([plain_buffers[name], buffer]) if name in plain_buffers else buffer
                    self.register_buffer(_key(name), stacked.clone())  # BN statistics, stacked likewise
        self.layout = [(_key(n), t.shape, t is not s) for n, t, s in zip(names, tensors, stored, strict=True)]
        self.tensors = self._views(self.flat.detach())  # refreshed from the parameter at every forward
        self.nets = (plain, residual)  # a tuple, so not registered: read for structure (strides, shortcuts) only
        self.block_pairs = list(zip(plain.block_list(), residual.block_list(), strict=True))
        self.layers = {
            v: [(_key(info.name), g if info.kind == "main" else None) for info, _ in weight_layers(net)]
            for g, (v, net) in enumerate(zip(VARIANTS, self.nets, strict=True))
        }
        # The weight layers lead `flat`: a shared layer is two segments (plain, residual half), W_s one.
        segments: list[tuple[str, int | None]] = []
        self.segment_sizes: list[int] = []
        for name in names[: len(self.layers["residual"])]:
            halves = range(GROUPS) if name in plain_params else (None,)
            segments += [(_key(name), g) for g in halves]
            self.segment_sizes += [residual_params[name].numel()] * len(halves)
        # per layer of each net (plain layers, then residual ones): the segment that holds it
        self.layer_segments = torch.tensor([segments.index(layer) for v in VARIANTS for layer in self.layers[v]])
        self.recording = False
        self.branch_moments: list[tuple[int, Tensor, Tensor]] = []  # per block: positions, Σz and Σz² per channel (2 x features,)
        self.skip_norms: list[Tensor] = []  # per block: ||shortcut(a)|| of the residual net
        self.out_squares: list[Tensor] = []  # per block: mean of a[l+2]^2 per net (2,)
        self.grad_norms: list[Tensor | None] = []  # per block: ||dL/da|| (2,), filled during backward

    def _storage_order(self, tensor: Tensor) -> Tensor:
        """The tensor with its dims in memory order: (out, kh, kw, in) for a channels_last conv weight."""
        return tensor.permute(0, 2, 3, 1) if tensor.dim() == 4 and self.memory_format == torch.channels_last else tensor

    def _views(self, flat: Tensor) -> dict[str, Tensor]:
        """Each parameter (or its gradient) as a view of `flat` in its layout (a conv weight NHWC when channels_last)."""
        out = {}
        pieces = flat.split([shape.numel() for _, shape, _ in self.layout])
        for (key, shape, permuted), piece in zip(self.layout, pieces, strict=True):
            out[key] = piece.view(shape[0], *shape[2:], shape[1]).permute(0, 3, 1, 2) if permuted else piece.view(shape)
        return out

    def _tensor(self, name: str) -> Tensor:
        return self.tensors[_key(name)]

    def _norm(self, x: Tensor, prefix: str, module: nn.Module) -> Tensor:
        if not isinstance(module, nn.BatchNorm1d | nn.BatchNorm2d):
            return x
        mean, var = self._buffers[_key(prefix + ".running_mean")], self._buffers[_key(prefix + ".running_var")]
        return F.batch_norm(
            x,
            mean,
            var,
            self._tensor(prefix + ".weight"),
            self._tensor(prefix + ".bias"),
            self.training,
            module.momentum,
            module.eps,
        )

    def _layer(self, x: Tensor, prefix: str, module: nn.Module, groups: int) -> Tensor:
        """A conv or linear layer of both nets: grouped when each net feeds its own input half."""
        weight = self._tensor(prefix + ".weight")
        bias = self._tensor(prefix + ".bias") if module.bias is not None else None
        if isinstance(module, nn.Conv2d):
            if module.padding_mode == "circular":  # wrap the map around first, as nn.Conv2d does for this mode
                pad = module.padding[0]
                return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="circular"), weight, bias, module.stride, 0, groups=groups)
            return F.conv2d(x, weight, bias, module.stride, module.padding, groups=groups)
        if groups == 1:
            return F.linear(x, weight, bias)
        batch = x.shape[0]
        halves = x.view(batch, GROUPS, -1).transpose(0, 1)  # (2, batch, in): each net's input half
        weights = weight.view(GROUPS, -1, weight.shape[1]).transpose(1, 2)  # (2 x out, in) -> (2, in, out)
        out = torch.bmm(halves, weights)  # (2, batch, out)
        out = out.transpose(0, 1).reshape(batch, -1)  # (batch, 2 x out): [plain | residual]
        return out + bias if bias is not None else out

    def _branch(self, x: Tensor, prefix: str, block: Block) -> Tensor:
        """z[l+2] of both nets, as models.Block.branch computes it (post- or pre-activation)."""
        if block.pre:
            hidden = self._layer(
                self.activation(self._norm(x, prefix + "norm1", block.norm1)), prefix + "layer1", block.layer1, GROUPS
            )
            return self._layer(
                self.activation(self._norm(hidden, prefix + "norm2", block.norm2)), prefix + "layer2", block.layer2, GROUPS
            )
        hidden = self.activation(
            self._norm(self._layer(x, prefix + "layer1", block.layer1, GROUPS), prefix + "norm1", block.norm1)
        )
        return self._norm(self._layer(hidden, prefix + "layer2", block.layer2, GROUPS), prefix + "norm2", block.norm2)

    def _skip(self, x: Tensor, prefix: str, shortcut: nn.Module, features: int) -> Tensor:
        """The residual net's shortcut of its input half, with zeros over the plain half."""
        half = x[:, x.shape[1] // GROUPS :]
        spatial = (0, 0, 0, 0) if self.image else ()
        if isinstance(shortcut, IdentityShortcut):
            return F.pad(half, (*spatial, features, 0))
        if isinstance(shortcut, ZeroPadShortcut):
            sub = half[:, :, :: shortcut.stride, :: shortcut.stride]
            return F.pad(sub, (*spatial, features, shortcut.out_channels - shortcut.in_channels))
        if not isinstance(shortcut, ProjectionShortcut):
            raise TypeError(f"unknown shortcut {type(shortcut).__name__}")
        weight = self._tensor(prefix + ".projection.weight")
        z = self._projection(half, weight, shortcut.projection.stride[0]) if self.image else F.linear(half, weight)
        return F.pad(self._norm(z, prefix + ".norm", shortcut.norm), (*spatial, features, 0))

    @staticmethod
    def _projection(x: Tensor, weight: Tensor, stride: int) -> Tensor:
        """W_s as what a 1x1 conv of stride s is: subsample, then one linear map per position (a GEMM).

        Not F.conv2d: torch 2.13.0's oneDNN backward of a channels_last 1x1 stride-2 conv with 2 to 6
        input channels writes out of bounds on AVX2 CPUs (heap corruption at one thread, a wrong
        dL/dW_s at two; docs/RELIABILITY.md). A GEMM never takes that kernel, in any layout.
        """
        sub = x[:, :, ::stride, ::stride]  # (N, C, H/s, W/s)
        positions = sub.movedim(1, -1)  # (N, H/s, W/s, C): a view, contiguous rows in NHWC
        z = F.linear(positions, weight.flatten(1))  # (N, H/s, W/s, C_out)
        return z.movedim(-1, 1)  # (N, C_out, H/s, W/s), channels_last strides

    def forward(self, x: Tensor) -> Tensor:
        plain = self.nets[0]
        self.tensors = self._views(self.flat)  # views of the one parameter, so gradients flow into flat.grad
        self.branch_moments, self.skip_norms, self.grad_norms, self.out_squares = [], [], [], []
        x = x.contiguous(memory_format=self.memory_format) if self.image else x
        out = self.activation(self._norm(self._layer(x, "stem.layer", plain.stem.layer, 1), "stem.norm", plain.stem.norm))
        for i, (block, residual_block) in enumerate(self.block_pairs):
            prefix = f"blocks.{i}."
            branch = self._branch(out, prefix, block)
            features = branch.shape[1] // GROUPS
            skip = self._skip(out, prefix + "shortcut", residual_block.shortcut, features)
            out = branch + skip if block.pre else self.activation(branch + skip)
            if self.recording:
                self._record(branch, skip, out, features)
        if plain.head is not None:  # pre-activation: the BN and g after the last block
            out = self.activation(self._norm(out, "head.norm", plain.head.norm))
        if self.image:
            out = out.mean(dim=(2, 3))  # global average pooling: per channel, so per net
        logits = self._layer(out, "fc", plain.fc, GROUPS)  # (batch, 2 x classes)
        return logits.view(x.shape[0], GROUPS, -1).transpose(0, 1)  # (2, batch, classes)

    def _record(self, branch: Tensor, skip: Tensor, out: Tensor, features: int) -> None:
        """Per-net block statistics, defined as in probes.BlockRecorder, from two GEMVs and one norm per block.

        Per channel, Σz = 1ᵀZ and Σz² = 1ᵀ(Z∘Z) over Z, the (positions, 2 x features) rows of z (a view in
        NHWC): a GEMV reads its matrix once, where column reductions and a centred copy took several times
        as long (benchmarks/RESULTS.md, "Changes"); not diag(ZᵀZ), whose wasted products the host's FLOP
        budget (serving.limits.estimate_cost) would have to count. The moments are combined in _block_metrics.
        """
        z = branch.detach()  # (N, 2 x features, H, W), or (N, 2 x features) in the MLP
        flat = z.movedim(1, -1).reshape(-1, z.shape[1])  # (positions, 2 x features): a view in NHWC
        ones = flat.new_ones(flat.shape[0])
        sums = torch.mv(flat.T, ones)  # (2 x features,): Σz per channel
        squares = torch.mv(flat.square().T, ones)  # (2 x features,): Σz² per channel
        self.branch_moments.append((flat.shape[0], sums, squares))
        self.skip_norms.append(torch.linalg.vector_norm(skip.detach()))  # the plain half is zeros: the residual net's ||skip||
        dims = (0, *range(2, branch.dim() + 1))
        per_net_out = out.detach().unflatten(1, (GROUPS, features))  # (N, 2, features, ...)
        self.out_squares.append(per_net_out.square().mean(dim=dims))  # (2,)
        if out.requires_grad:
            index = len(self.grad_norms)
            self.grad_norms.append(None)

            def store_grad_norm(grad: Tensor) -> None:  # returns None: the gradient passes on unchanged
                per_net = grad.unflatten(1, (GROUPS, features))  # (N, 2, features, ...)
                self.grad_norms[index] = torch.linalg.vector_norm(per_net, dim=dims)  # (2,)

            out.register_hook(store_grad_norm)

    def _block_metrics(self) -> Tensor | None:
        """(2, len(BLOCK_METRICS), blocks): act_grad_norm, act_std, branch_ratio, out_ms per net; NaN where undefined.

        var = E[z²] - E[z]² per net, in float64 from the float32 channel sums: it loses digits only when every
        channel's mean dwarfs the net's spread, which BN (mean β, spread γ per channel) does not produce.
        """
        if not self.branch_moments:
            return None
        device = self.skip_norms[0].device
        sums = torch.stack([m[1].view(GROUPS, -1).sum(1) for m in self.branch_moments]).double()  # (blocks, 2): Σz per net
        squares = torch.stack([m[2].view(GROUPS, -1).sum(1) for m in self.branch_moments]).double()  # (blocks, 2): Σz² per net
        count = torch.tensor([[m[0] * m[1].numel() // GROUPS] for m in self.branch_moments], device=device).double()  # per net
        var = (squares / count - (sums / count) ** 2).clamp_min(0)  # (blocks, 2), biased
        act_std = (var * count / (count - 1)).sqrt().float()  # unbiased, like Tensor.std() over one net's elements
        branch_norm = squares[:, 1].sqrt().float()  # ||z|| of the residual net
        nan = torch.full_like(act_std, math.nan)
        grads = torch.stack(self.grad_norms) if None not in self.grad_norms and self.grad_norms else nan
        ratio = torch.stack([nan[:, 0], branch_norm / torch.stack(self.skip_norms)], dim=1)
        return torch.stack([grads, act_std, ratio, torch.stack(self.out_squares)]).permute(2, 0, 1)

    def measurements(self) -> dict[str, Tensor]:
        """Per variant one flat device tensor [grad_norm, weight_norm, block metrics]: the layout probes.Measurement.unflatten reads."""
        if self.flat.grad is None:
            raise RuntimeError("no gradient; measure after a backward pass")
        layers = sum(self.segment_sizes)  # the weight layers lead `flat`
        pieces = [*self.flat.grad[:layers].split(self.segment_sizes), *self.flat.detach()[:layers].split(self.segment_sizes)]
        norms = torch.stack(torch._foreach_norm(pieces)).view(2, -1)[
            :, self.layer_segments
        ]  # (grad | weight, layers of both nets)
        blocks = self._block_metrics()
        out, start = {}, 0
        for g, v in enumerate(VARIANTS):
            end = start + len(self.layers[v])
            parts = [norms[0, start:end], norms[1, start:end]] + ([blocks[g].flatten()] if blocks is not None else [])
            out[v], start = torch.cat(parts), end
        return out

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the trained stacked tensors into the two nets, so callers can use them as ordinary Stacks."""
        for g, net in enumerate(self.nets):
            tensors = dict(net.named_parameters()) | {n: b for n, b in net.named_buffers() if b.dim() == 1}
            for name, tensor in tensors.items():
                key = _key(name)
                source = self.tensors[key] if key in self.tensors else self._buffers[key]
                if source.shape[0] != tensor.shape[0]:  # stacked: this net's half, the same slice in any memory layout
                    source = source[g * tensor.shape[0] : (g + 1) * tensor.shape[0]]
                tensor.copy_(source)
