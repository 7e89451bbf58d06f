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

from resnet_core.models import VARIANTS, Block, IdentityShortcut, ProjectionShortcut, Stack, ZeroPadShortcut
from resnet_core.probes import weight_layers

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
        self.stacked = nn.ParameterDict()  # every parameter both nets have, [plain | residual] on dim 0
        self.residual_only = nn.ParameterDict()  # projection shortcuts (options B, C)
        plain_params, residual_params = dict(plain.named_parameters()), dict(residual.named_parameters())
        plain_buffers, residual_buffers = dict(plain.named_buffers()), dict(residual.named_buffers())
        with torch.no_grad():
            for name, param in residual_params.items():
                stacked = torch.cat([plain_params[name], param]) if name in plain_params else param
                (self.stacked if name in plain_params else self.residual_only)[_key(name)] = nn.Parameter(
                    stacked.clone(memory_format=self.memory_format if stacked.dim() == 4 else torch.contiguous_format)
                )
            for name, buffer in residual_buffers.items():
                if buffer.dim() == 1:  # running mean / var; num_batches_tracked is unused at momentum 0.1
                    stacked = torch.cat([plain_buffers[name], buffer]) if name in plain_buffers else buffer
                    self.register_buffer(_key(name), stacked.clone())  # BN statistics, stacked likewise
        self.nets = (plain, residual)  # a tuple, so not registered: read for structure (strides, shortcuts) only
        self.block_pairs = list(zip(plain.block_list(), residual.block_list(), strict=True))
        self.layers = {
            v: [(_key(info.name), g if info.kind == "main" else None) for info, _ in weight_layers(net)]
            for g, (v, net) in enumerate(zip(VARIANTS, self.nets, strict=True))
        }
        self.all_layers = [layer for v in VARIANTS for layer in self.layers[v]]
        self.recording = False
        self.branch_moments: list[tuple[int, Tensor, Tensor]] = []  # per block: elements per net, biased var (2,), mean (2,)
        self.skip_norms: list[Tensor] = []  # per block: ||shortcut(a)|| of the residual net
        self.out_squares: list[Tensor] = []  # per block: mean of a[l+2]^2 per net (2,)
        self.grad_norms: list[Tensor | None] = []  # per block: ||dL/da|| (2,), filled during backward

    def _tensor(self, name: str) -> Tensor:
        key = _key(name)
        return self.stacked[key] if key in self.stacked else self.residual_only[key]

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
        weight = self.residual_only[_key(prefix + ".projection.weight")]
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
        """Per-net block statistics, defined as in probes.BlockRecorder: three reductions, combined in measurements()."""
        # Per-channel moments first (a fast column reduction, a view in NHWC), then pooled per net.
        # Two passes (mean, then centred squares): exact, and faster than var_mean (benchmarks/RESULTS.md, "Changes").
        z = branch.detach()  # (N, 2 x features, H, W), or (N, 2 x features) in the MLP
        channels_last = z.movedim(1, -1)  # (N, H, W, 2 x features): a view, contiguous in NHWC
        flat = channels_last.reshape(-1, z.shape[1])  # (positions, 2 x features)
        channel_mean = flat.mean(0)  # (2 x features,)
        centred = flat - channel_mean  # (positions, 2 x features)
        channel_var = torch.linalg.vector_norm(centred, dim=0).square() / flat.shape[0]  # (2 x features,), biased
        channel_var = channel_var.view(GROUPS, features)  # (2, features)
        channel_mean = channel_mean.view(GROUPS, features)  # (2, features)
        mean = channel_mean.mean(1)  # (2,)
        spread = (channel_mean - mean[:, None]).square().mean(1)  # (2,): variance of the channel means
        var = channel_var.mean(1) + spread  # (2,): biased, per net, no cancellation
        self.branch_moments.append((flat.shape[0] * features, var, mean))
        dims = (0, *range(2, branch.dim() + 1))
        self.skip_norms.append(torch.linalg.vector_norm(skip.detach()[:, features:]))
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
        """(2, len(BLOCK_METRICS), blocks): act_grad_norm, act_std, branch_ratio, out_ms per net; NaN where undefined."""
        if not self.branch_moments:
            return None
        n = torch.tensor([m[0] for m in self.branch_moments], dtype=torch.float32, device=self.skip_norms[0].device)
        var, mean = torch.stack([m[1] for m in self.branch_moments]), torch.stack([m[2] for m in self.branch_moments])
        branch_norm = (n * (var[:, 1] + mean[:, 1] ** 2)).sqrt()  # ||z|| from its moments: sums of squares, no cancellation
        act_std = (var * (n / (n - 1))[:, None]).sqrt()  # unbiased, like Tensor.std() over one net's elements
        nan = torch.full_like(var, math.nan)
        grads = torch.stack(self.grad_norms) if None not in self.grad_norms and self.grad_norms else nan
        ratio = torch.stack([nan[:, 0], branch_norm / torch.stack(self.skip_norms)], dim=1)
        return torch.stack([grads, act_std, ratio, torch.stack(self.out_squares)]).permute(2, 0, 1)

    def measurements(self) -> dict[str, Tensor]:
        """Per variant one flat device tensor [grad_norm, weight_norm, block metrics]: the layout probes.Measurement.unflatten reads."""
        grads = torch.stack(torch._foreach_norm([self._group_view(key, group, grad=True) for key, group in self.all_layers]))
        weights = torch.stack(torch._foreach_norm([self._group_view(key, group) for key, group in self.all_layers]))
        blocks = self._block_metrics()
        out, start = {}, 0
        for g, v in enumerate(VARIANTS):
            end = start + len(self.layers[v])
            parts = [grads[start:end], weights[start:end]] + ([blocks[g].flatten()] if blocks is not None else [])
            out[v], start = torch.cat(parts), end
        return out

    @torch.no_grad()
    def write_back(self) -> None:
        """Copy the trained stacked tensors into the two nets, so callers can use them as ordinary Stacks."""
        for g, net in enumerate(self.nets):
            tensors = dict(net.named_parameters()) | {n: b for n, b in net.named_buffers() if b.dim() == 1}
            for name, tensor in tensors.items():
                key = _key(name)
                source = self.stacked[key] if key in self.stacked else self.residual_only.get(key, self._buffers.get(key))
                if source.shape[0] != tensor.shape[0]:  # stacked: this net's half, the same slice in any memory layout
                    source = source[g * tensor.shape[0] : (g + 1) * tensor.shape[0]]
                tensor.copy_(source)

    def _group_view(self, key: str, group: int | None, grad: bool = False) -> Tensor:
        param = self.stacked[key] if group is not None else self.residual_only[key]
        tensor = param.grad if grad else param.detach()
        if tensor is None:
            raise RuntimeError(f"{key}: no gradient; measure after a backward pass")
        if tensor.dim() == 4 and not tensor.is_contiguous():
            tensor = tensor.permute(0, 2, 3, 1)  # NHWC storage read in its own order: contiguous, so _foreach_norm's fast path
        return tensor if group is None else tensor.reshape(GROUPS, -1)[group]
