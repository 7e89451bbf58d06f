"""Batched pair execution: the plain and the residual net of a pair as one computation.

A training step of one small net is overhead-bound (hundreds of tiny kernels), so running
both nets of a pair in the same kernels costs far less than running them one after the
other (benchmarks/RESULTS.md, "pairing"). The two nets share every shape, so each layer's
tensors are stacked along the output features, [plain | residual]: a block conv becomes a
grouped conv (groups=2), a linear layer a batched matmul, BatchNorm normalises 2C channels
(its statistics are per channel, hence per net), and the shortcut is added to the residual
half only (the plain half gets + 0, which changes no value). Projection shortcuts exist in
the residual net alone and run on its half. The CNN's maps are (batch, 2C, H, W); the MLP's
activations are (2, batch, features), net first, so each linear layer is one baddbmm with no
reshuffling around it (a deep thin MLP is bound by the number of autograd nodes per layer).

Nothing mixes the halves, so each net computes what it computes alone, up to the order of
float sums; tests/test_paired.py checks that against the two nets trained one by one.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig
from resnet_core.models import ACTIVATION_MODULES, Stack, pair_spec
from resnet_core.pair_stats import GROUPS, BlockStatistics, runs
from resnet_core.probes import layer_infos
from resnet_core.specs import VARIANTS
from resnet_core.structure import BN_EPS, BN_MOMENTUM, BlockSpec, Layer, NetSpec, Norm, Shortcut, initial_state

RESIDUAL = VARIANTS.index("residual")  # the residual net's half (CNN channels) or slice (MLP activations)


def _key(name: str) -> str:
    return name.replace(".", "/")  # module registries refuse dots in names


class PairedStack(nn.Module):
    """Both nets of a pair in stacked tensors; forward(x) returns logits shaped (2, batch, classes).

    Made from the structure (structure.NetSpec) and each net's parameters and BN statistics by name:
    `from_config` draws them directly (no nn.Module per layer), `of_nets` reads two built Stacks.
    """

    def __init__(self, spec: NetSpec, plain: dict[str, Tensor], residual: dict[str, Tensor], channels_last: bool = True) -> None:
        super().__init__()
        self.spec, self.image = spec, spec.image
        # NHWC spares oneDNN a layout reorder around every conv (benchmarks/RESULTS.md, "Changes": channels_last)
        self.memory_format = torch.channels_last if channels_last and spec.image else torch.contiguous_format
        self.activation = ACTIVATION_MODULES[spec.activation]().forward  # stateless, the same in both nets
        self.momentum = BN_MOMENTUM  # every stacked BN's; evaluation.estimate_norm_statistics changes it for its pass
        self.norms = [m for m in spec.modules("residual") if isinstance(m, Norm)]
        shapes = dict(spec.parameters("residual"))
        # Every parameter lives in one flat tensor, weight layers first: the optimizer updates one tensor, and the
        # per-layer norms are one row-wise norm per run of equal-size segments of it and of its gradient (_segment_norms).
        names = sorted(shapes, key=lambda n: len(shapes[n]) < 2)  # stable: layer order kept
        halves = [(plain[n], residual[n]) if n in plain else (residual[n],) for n in names]
        with torch.no_grad():  # stacked along dim 0, which _storage_order keeps first: one cat of all halves, none per name
            self.flat = nn.Parameter(torch.cat([self._storage_order(t).reshape(-1) for pair in halves for t in pair]))
            for norm in self.norms:
                for stat in ("running_mean", "running_var"):  # num_batches_tracked is unused at momentum 0.1
                    name = f"{norm.name}.{stat}"
                    stacked = torch.cat([plain[name], residual[name]]) if name in plain else residual[name].clone()
                    self.register_buffer(_key(name), stacked)  # BN statistics, stacked likewise, never the caller's
        permuted = self.memory_format == torch.channels_last
        # the linear layers that run on both nets' (2, batch, features) (the classifier; the MLP's all but its stem):
        # their weights and biases are taken in baddbmm's form, (2, in, out) and (2, 1, out), straight from `flat`
        linear = {m.name for m in spec.modules("residual") if isinstance(m, Layer) and not m.kernel and m != spec.stem}
        batched = {name for name in linear if f"{name}.weight" in plain}  # W_s is the residual net's alone
        forms = [
            (
                torch.Size([sum(len(t) for t in pair), *pair[0].shape[1:]]),
                permuted and pair[0].dim() == 4,
                n.rsplit(".", 1)[0] in batched,
            )
            for n, pair in zip(names, halves, strict=True)
        ]
        # consecutive parameters of one stacked shape and form (a deep net's equal layers) are one run of `flat`: one view
        # and one unbind per run, not a view per parameter, in the forward and (as their backward nodes) in the backward
        in_order = iter(names)
        self.layout: list[tuple[list[str], torch.Size, bool, bool]] = [
            ([next(in_order) for _ in range(count)], *form) for count, form in runs(forms)
        ]
        self.tensors = self._views(self.flat.detach(), operands=True)  # refreshed from the parameter at every forward
        self.layers = {
            v: [
                (_key(info.name), g if info.kind == "main" else None)
                for info in layer_infos([n for n, shape in spec.parameters(v) if len(shape) >= 2])
            ]
            for g, v in enumerate(VARIANTS)
        }
        # The weight layers lead `flat`: a shared layer is two segments (plain, residual half), W_s one.
        segments: dict[tuple[str, int | None], int] = {}
        self.segment_sizes: list[int] = []
        for name in names[: len(self.layers["residual"])]:
            halves = range(GROUPS) if name in plain else (None,)
            segments |= {(_key(name), g): len(segments) + i for i, g in enumerate(halves)}
            self.segment_sizes += [math.prod(shapes[name])] * len(halves)
        # per layer of each net (plain layers, then residual ones): the segment that holds it
        self.layer_segments = torch.tensor([segments[layer] for v in VARIANTS for layer in self.layers[v]])
        self.runs = runs(self.segment_sizes)  # a stage's layers and both halves: one reduction per run, not per segment
        # the residual net's slice of the MLP's net-first activations (a buffer: it moves with the pair to its device)
        self.register_buffer("residual_slice", torch.tensor([RESIDUAL]), persistent=False)
        self.stats = BlockStatistics([b.layer2.out_features for b in spec.blocks])  # filled by measured forwards
        self.recording = False

    @classmethod
    def from_config(
        cls,
        config: ExperimentConfig,
        in_shape: tuple[int, ...] | None = None,
        n_classes: int | None = None,
        channels_last: bool = True,
    ) -> PairedStack:
        """The pair build_pair(config) gives, stacked, without building a module per layer (bit-identical weights).

        The plain net's tensors are the residual net's of the same name: structure.init_weight_ seeds each draw
        by the layer's name, so build_pair's two nets hold equal values there (tests/test_structure.py).
        """
        spec = pair_spec(config, in_shape, n_classes)
        residual = initial_state(spec, config, "residual")
        in_plain = {m.name for m in spec.modules("plain")}
        plain = {n: t for n, t in residual.items() if n.rsplit(".", 1)[0] in in_plain}
        return cls(spec, plain, residual, channels_last)

    @classmethod
    def of_nets(cls, plain: Stack, residual: Stack, channels_last: bool = True) -> PairedStack:
        """Two built nets (as build_pair returns them, possibly changed since) stacked."""
        if plain.spec is None:
            raise ValueError("the nets carry no spec: build them with models.build_model")
        state = [
            dict(net.named_parameters()) | {n: b for n, b in net.named_buffers() if b.dim() == 1} for net in (plain, residual)
        ]
        return cls(plain.spec, *state, channels_last=channels_last)

    def _storage_order(self, tensor: Tensor) -> Tensor:
        """The tensor with its dims in memory order: (out, kh, kw, in) for a channels_last conv weight."""
        return tensor.permute(0, 2, 3, 1) if tensor.dim() == 4 and self.memory_format == torch.channels_last else tensor

    def _views(self, flat: Tensor, operands: bool = False) -> dict[str, Tensor]:
        """Each parameter (or its gradient) as a view of `flat`: in its stacked shape (a conv weight NHWC when
        channels_last), or with `operands` in the form its layer takes it (an MLP's batched layers: baddbmm's)."""
        out = {}
        pieces = flat.split([len(keys) * shape.numel() for keys, shape, _, _ in self.layout])
        for (keys, shape, permuted, batched), piece in zip(self.layout, pieces, strict=True):
            count = len(keys)
            if permuted:
                run = piece.view(count, shape[0], *shape[2:], shape[1]).permute(0, 1, 4, 2, 3)
            elif batched and operands and len(shape) == 2:  # (2 x out, in) -> (2, in, out)
                run = piece.view(count, GROUPS, -1, shape[1]).transpose(2, 3)
            elif batched and operands:  # (2 x out,) -> (2, 1, out)
                run = piece.view(count, GROUPS, 1, -1)
            else:
                run = piece.view(count, *shape)
            out.update(zip(keys, run.unbind(0), strict=True))
        return out

    def _tensor(self, name: str) -> Tensor:
        return self.tensors[name]  # keyed by the parameter's own name (a plain dict, no registry)

    def _norm(self, x: Tensor, norm: Norm | None) -> Tensor:
        if norm is None:
            return x
        mean, var = self._buffers[_key(norm.name + ".running_mean")], self._buffers[_key(norm.name + ".running_var")]
        weight, bias = self._tensor(norm.name + ".weight"), self._tensor(norm.name + ".bias")
        if x.dim() == 3:  # the MLP's (2, batch, features): BN wants (batch, 2 x features) channels, [plain | residual]
            rows = x.transpose(0, 1).reshape(x.shape[1], -1)
            y = F.batch_norm(rows, mean, var, weight, bias, self.training, self.momentum, BN_EPS)
            return y.view(x.shape[1], x.shape[0], -1).transpose(0, 1)
        return F.batch_norm(x, mean, var, weight, bias, self.training, self.momentum, BN_EPS)

    def _layer(self, x: Tensor, layer: Layer, groups: int) -> Tensor:
        """A conv or linear layer of both nets: grouped when each net feeds its own input half."""
        weight = self._tensor(layer.name + ".weight")
        bias = self._tensor(layer.name + ".bias") if layer.bias else None
        if layer.kernel:
            pad = layer.kernel // 2
            if layer.circular:  # wrap the map around first, as nn.Conv2d does for this mode
                return F.conv2d(F.pad(x, (pad, pad, pad, pad), mode="circular"), weight, bias, layer.stride, 0, groups=groups)
            return F.conv2d(x, weight, bias, layer.stride, pad, groups=groups)
        if groups == 1:  # the stem: one input for both nets, then each net's features apart
            out = F.linear(x, weight, bias)  # (batch, 2 x out): [plain | residual]
            return out.view(x.shape[0], GROUPS, -1).transpose(0, 1)  # (2, batch, out), a view
        if bias is None:  # weight (2, in, out), bias (2, 1, out): views of `flat` in baddbmm's form (_views)
            return torch.bmm(x, weight)  # (2, batch, out)
        return torch.baddbmm(bias, x, weight)

    def _branch(self, x: Tensor, block: BlockSpec) -> tuple[Tensor, tuple[Tensor, Tensor, Tensor] | None]:
        """z[l+2] of both nets, as models.Block.branch computes it (post- or pre-activation), and, in a recorded
        training step where a BN makes z, that BN's (γ, β, 1/sqrt(var + eps)): z's moments follow from them (pair_stats)."""
        if block.pre:
            hidden = self._layer(self.activation(self._norm(x, block.norm1)), block.layer1, GROUPS)
            return self._layer(self.activation(self._norm(hidden, block.norm2)), block.layer2, GROUPS), None
        hidden = self.activation(self._norm(self._layer(x, block.layer1, GROUPS), block.norm1))
        z = self._layer(hidden, block.layer2, GROUPS)
        if block.norm2 is None or not (self.recording and self.training and self.image):  # the MLP: z is net-first
            return self._norm(z, block.norm2), None
        norm = block.norm2
        mean, var = self._buffers[_key(norm.name + ".running_mean")], self._buffers[_key(norm.name + ".running_var")]
        weight, bias = self._tensor(norm.name + ".weight"), self._tensor(norm.name + ".bias")
        # the kernel F.batch_norm runs in training mode on the CPU, returning the batch statistics it computed
        z, _, inv_std = torch.native_batch_norm(z, weight, bias, mean, var, True, self.momentum, BN_EPS)
        return z, (weight, bias, inv_std)  # read without autograd (BlockStatistics._norm_moments)

    def _map_shortcut(self, x: Tensor, shortcut: Shortcut, features: int) -> Tensor:
        """The residual CNN's shortcut of its input half (batch, C, H, W), with zeros over the plain half."""
        half = x[:, x.shape[1] // GROUPS :]
        spatial = (0, 0, 0, 0)
        if shortcut.kind == "identity":
            return F.pad(half, (*spatial, features, 0))
        if shortcut.kind == "zero_pad":
            sub = half[:, :, :: shortcut.stride, :: shortcut.stride]
            return F.pad(sub, (*spatial, features, shortcut.out_features - shortcut.in_features))
        if shortcut.projection is None:
            raise TypeError(f"unknown shortcut {shortcut.kind!r}")
        weight = self._tensor(shortcut.projection.name + ".weight")
        z = self._projection(half, weight, shortcut.stride)
        return F.pad(self._norm(z, shortcut.norm), (*spatial, features, 0))

    def _mlp_shortcut(self, x: Tensor, shortcut: Shortcut) -> Tensor:
        """The residual MLP's shortcut, (1, batch, features), of its slice of x (2, batch, features): identity or W_s."""
        residual = x[RESIDUAL : RESIDUAL + 1]
        if shortcut.kind == "identity":
            return residual
        if shortcut.projection is None:
            raise TypeError(f"unknown MLP shortcut {shortcut.kind!r}")
        return self._norm(F.linear(residual, self._tensor(shortcut.projection.name + ".weight")), shortcut.norm)

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
        spec = self.spec
        self.tensors = self._views(self.flat, operands=True)  # views of the one parameter, so gradients flow into flat.grad
        self.stats.clear()
        x = x.contiguous(memory_format=self.memory_format) if self.image else x
        out = self.activation(self._norm(self._layer(x, spec.stem, 1), spec.stem_norm))
        for i, block in enumerate(spec.blocks):
            branch, norm = self._branch(out, block)
            if self.image:
                skip = self._map_shortcut(out, block.shortcut, branch.shape[1] // GROUPS)
                total = branch + skip
            else:  # added to the residual net's slice alone: one autograd node, the plain slice left as it is
                skip = self._mlp_shortcut(out, block.shortcut)
                total = branch.index_add(0, self.residual_slice, skip)
            out = total if block.pre else self.activation(total)
            if self.recording:  # an identity shortcut's norm is its input's, the block before's output (pair_stats)
                self.stats.record(branch, None if i and block.shortcut.kind == "identity" else skip, out, norm)
        if spec.pre:  # pre-activation: the BN and g after the last block
            out = self.activation(self._norm(out, spec.head_norm))
        if self.image:
            pooled = out.mean(dim=(2, 3))  # global average pooling: per channel, so per net
            out = pooled.view(x.shape[0], GROUPS, -1).transpose(0, 1)  # (2, batch, channels), a view
        return self._layer(out, spec.fc, GROUPS)  # (2, batch, classes)

    def _segment_norms(self, flat: Tensor) -> Tensor:
        """The 2-norm of every weight segment of `flat` (or of its gradient), from one row-wise norm per run of equal sizes.

        Not a list of per-tensor norms: splitting into ~230 views and reducing each was most of measuring the layers.
        """
        lengths = [count * size for count, size in self.runs]
        pieces = flat[: sum(lengths)].split(lengths)  # the weight layers lead `flat`
        return torch.cat([torch.linalg.vector_norm(p.view(c, s), dim=1) for p, (c, s) in zip(pieces, self.runs, strict=True)])

    def measurements(self) -> dict[str, Tensor]:
        """Per variant one flat device tensor [grad_norm, weight_norm, block metrics]: the layout probes.Measurement.unflatten reads."""
        if self.flat.grad is None:
            raise RuntimeError("no gradient; measure after a backward pass")
        norms = torch.stack([self._segment_norms(self.flat.grad), self._segment_norms(self.flat.detach())])
        norms = norms[:, self.layer_segments]  # (grad | weight, layers of both nets)
        blocks = self.stats.metrics()
        out, start = {}, 0
        for g, v in enumerate(VARIANTS):
            end = start + len(self.layers[v])
            parts = [norms[0, start:end], norms[1, start:end]] + ([blocks[g].flatten()] if blocks is not None else [])
            out[v], start = torch.cat(parts), end
        return out

    @torch.no_grad()
    def write_back(self, nets: dict[str, Stack]) -> None:
        """Copy the trained stacked tensors into the two nets (as build_pair made them), so callers can use them as ordinary Stacks."""
        trained = self._views(self.flat.detach())
        for g, v in enumerate(VARIANTS):
            net = nets[v]
            tensors = dict(net.named_parameters()) | {n: b for n, b in net.named_buffers() if b.dim() == 1}
            for name, tensor in tensors.items():
                source = trained[name] if name in trained else self._buffers[_key(name)]
                if source.shape[0] != tensor.shape[0]:  # stacked: this net's half, the same slice in any memory layout
                    source = source[g * tensor.shape[0] : (g + 1) * tensor.shape[0]]
                tensor.copy_(source)
