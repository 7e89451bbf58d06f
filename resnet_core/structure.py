"""The structure of a pair's nets as plain data: what models.build_model turns into modules, and what
paired.PairedStack.from_config stacks directly, without an nn.Module per layer.

Building ~9,600 modules was most of the CNN-1202 pair's initial measurement (benchmarks/RESULTS.md,
"initial measurement"); the structure itself is a few thousand small records. Every name is the
module path build_model gives the layer, so parameter names, initial draws (seeded by name) and
records agree between the two routes; tests/test_structure.py checks it for every option.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterator
from dataclasses import dataclass

import torch
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig

BN_MOMENTUM, BN_EPS = 0.1, 1e-5  # torch's defaults, stated once: the modules and the stacked pair both use them


@dataclass(frozen=True)
class Layer:
    """A conv (kernel 3 or 1, padding kernel // 2) or, with kernel 0, a linear layer."""

    name: str  # the module path, e.g. "blocks.3.layer1"
    in_features: int
    out_features: int
    kernel: int
    stride: int = 1
    bias: bool = False
    circular: bool = False  # the conv's padding mode: circular, else zeros

    def weight_shape(self) -> tuple[int, ...]:
        k = (self.kernel, self.kernel) if self.kernel else ()
        return (self.out_features, self.in_features, *k)


@dataclass(frozen=True)
class Norm:
    """A BatchNorm layer over `features` channels (1d in the MLP, 2d in the CNN)."""

    name: str
    features: int


@dataclass(frozen=True)
class Shortcut:
    """The residual net's shortcut of one block (He et al. 2015, Sec. 3.3; config.SHORTCUT_OPTIONS)."""

    kind: str  # "identity", "zero_pad" or "projection"
    in_features: int
    out_features: int
    stride: int
    projection: Layer | None = None
    norm: Norm | None = None


@dataclass(frozen=True)
class BlockSpec:
    """Two weight layers with their norms (None: no BN); `pre`: the pre-activation unit; the residual net's shortcut."""

    layer1: Layer
    norm1: Norm | None
    layer2: Layer
    norm2: Norm | None
    shortcut: Shortcut
    stage: int
    pre: bool

    def last_branch(self) -> str:
        """The name of the module that makes z[l+2] (last_branch_part)."""
        return self.layer2.name.removesuffix("layer2") + last_branch_part(self.norm2 is not None, self.pre)


def last_branch_part(has_bn: bool, pre: bool) -> str:
    """The part of a block that makes z[l+2], zeroed by zero_residual init: the second BN (post-activation with BN), else layer2."""
    return "norm2" if has_bn and not pre else "layer2"


@dataclass(frozen=True)
class NetSpec:
    """Stem -> blocks -> (head: BN and g after the last pre-activation block) -> (pool) -> classifier."""

    image: bool
    activation: str
    stem: Layer
    stem_norm: Norm | None
    blocks: tuple[BlockSpec, ...]
    pre: bool
    head_norm: Norm | None
    fc: Layer

    def modules(self, variant: str) -> Iterator[Layer | Norm]:
        """The layers with parameters, in build_model's registration order (so named_parameters' order)."""
        yield self.stem
        yield from (n for n in (self.stem_norm,) if n is not None)
        for block in self.blocks:
            parts = (block.layer1, block.norm1, block.layer2, block.norm2)
            if variant == "residual":
                parts += (block.shortcut.projection, block.shortcut.norm)
            yield from (p for p in parts if p is not None)
        yield from (n for n in (self.head_norm,) if n is not None)
        yield self.fc

    def parameters(self, variant: str) -> Iterator[tuple[str, tuple[int, ...]]]:
        """(name, shape) of every parameter of one net, in named_parameters' order."""
        for module in self.modules(variant):
            if isinstance(module, Norm):
                yield from ((f"{module.name}.{p}", (module.features,)) for p in ("weight", "bias"))
                continue
            yield f"{module.name}.weight", module.weight_shape()
            if module.bias:
                yield f"{module.name}.bias", (module.out_features,)


def net_spec(config: ExperimentConfig, in_shape: tuple[int, ...], n_classes: int) -> NetSpec:
    """The pair's structure (He et al. 2015, Sec. 4.2 for the CNN; models' docstring), the residual net's shortcuts included."""
    image, pre, bias, circular = config.arch == "cnn", config.block == "pre", config.norm == "none", config.padding == "circular"
    kernel = 3 if image else 0

    def norm(name: str, features: int) -> Norm | None:
        return None if config.norm == "none" else Norm(name, features)

    def block(i: int, in_f: int, out_f: int, stride: int, stage: int) -> BlockSpec:
        prefix = f"blocks.{i}."
        return BlockSpec(
            Layer(prefix + "layer1", in_f, out_f, kernel, stride, bias, circular and image),
            norm(prefix + "norm1", in_f if pre else out_f),  # pre: BN of the block's input
            Layer(prefix + "layer2", out_f, out_f, kernel, 1, bias, circular and image),
            norm(prefix + "norm2", out_f),
            choose_shortcut(config, in_f, out_f, stride, image, prefix + "shortcut"),
            stage,
            pre,
        )

    w, blocks = config.width, []
    if image:
        n, in_f = (config.depth - 2) // 6, w
        for stage, out_f in enumerate((w, 2 * w, 4 * w)):
            for i in range(n):
                blocks.append(block(len(blocks), in_f, out_f, 2 if stage > 0 and i == 0 else 1, stage))
                in_f = out_f
    else:
        in_f = w
        blocks = [block(i, w, w, 1, 0) for i in range(config.depth // 2)]
    stem = Layer("stem.layer", in_shape[0], w, kernel, 1, bias, circular and image)
    fc = Layer("fc", in_f, n_classes, 0, bias=True)
    head = norm("head.norm", in_f) if pre else None
    return NetSpec(image, config.activation, stem, norm("stem.norm", w), tuple(blocks), pre, head, fc)


def choose_shortcut(config: ExperimentConfig, in_f: int, out_f: int, stride: int, image: bool, name: str) -> Shortcut:
    """A block's shortcut by the paper's options (config.SHORTCUT_OPTIONS); the block itself never decides."""
    changes_shape = stride != 1 or in_f != out_f
    if config.shortcut == "C" or (config.shortcut == "B" and changes_shape):
        projection = Layer(name + ".projection", in_f, out_f, 1 if image else 0, stride)
        norm = None if config.norm == "none" else Norm(name + ".norm", out_f)
        return Shortcut("projection", in_f, out_f, stride, projection, norm)
    return Shortcut("zero_pad" if changes_shape else "identity", in_f, out_f, stride)


def init_weight_(weight: Tensor, config: ExperimentConfig, name: str) -> Tensor:
    """He or Xavier weights drawn in place from a generator seeded by (seed, layer name).

    Seeding per name makes pairing structural: plain and residual nets share every layer name
    except the projection shortcuts, so they start identical without copying.
    """
    generator = torch.Generator().manual_seed(config.seed * 1_000_003 + zlib.crc32(name.encode()))
    if config.init == "xavier":
        return nn.init.xavier_normal_(weight, generator=generator)
    # he and zero_residual: Kaiming normal, fan-in (He et al. 2015b)
    return nn.init.kaiming_normal_(weight, mode="fan_in", nonlinearity="relu", generator=generator)


def initial_state(spec: NetSpec, config: ExperimentConfig, variant: str) -> dict[str, Tensor]:
    """One net's initial parameters and BN running statistics by name, as build_model's modules hold them."""
    zeroed = {b.last_branch() for b in spec.blocks} if config.init == "zero_residual" else set()
    state: dict[str, Tensor] = {}
    with torch.no_grad():
        for module in spec.modules(variant):
            if isinstance(module, Norm):  # BatchNorm starts at scale 1, shift 0
                state[f"{module.name}.weight"] = torch.full((module.features,), 0.0 if module.name in zeroed else 1.0)
                state[f"{module.name}.bias"] = torch.zeros(module.features)
                state[f"{module.name}.running_mean"] = torch.zeros(module.features)
                state[f"{module.name}.running_var"] = torch.ones(module.features)
                continue
            weight = init_weight_(torch.empty(module.weight_shape()), config, module.name)
            state[f"{module.name}.weight"] = weight.zero_() if module.name in zeroed else weight
            if module.bias:
                state[f"{module.name}.bias"] = torch.zeros(module.out_features)
    return state
