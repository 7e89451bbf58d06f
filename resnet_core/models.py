"""Plain and residual stacks: an MLP and the He et al. (2015) CIFAR CNN, shortcut options A/B/C.

The residual block is the paper's post-activation unit, a[l+2] = g(z[l+2] + a[l]): the
shortcut is added *before* the block's last activation. `block="pre"` gives He et al. (2016)'s
full pre-activation unit instead, a[l+2] = a[l] + W2 g(BN(W1 g(BN(a[l])))), with one BN and g
after the last block (their Sec. 4.1): nothing but additions between the stem and that head.
A plain block is the same block without the addition, so a plain/residual pair differs only
by the shortcut.

CNN layout (Sec. 4.2): 3x3 conv stem; 3 stages of n blocks with w, 2w, 4w filters, stride 2
in the first block of stages 2 and 3; global average pool; linear classifier; depth 6n+2.
With w = 16, BatchNorm, bias-free convs and a 3x32x32 input, option A gives the paper's
parameter counts (tests/test_models.py asserts them; option B adds 2,752):

    depth     n   parameters
    20        3      269,722
    32        5      464,154
    44        7      658,586
    56        9      853,018
    110      18    1,727,962
    1202    200   19,421,274
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig
from resnet_core.specs import VARIANTS
from resnet_core.structure import (
    BN_EPS,
    BN_MOMENTUM,
    BlockSpec,
    Layer,
    NetSpec,
    Norm,
    Shortcut,
    init_weight_,
    last_branch_part,
    net_spec,
)

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def make_layer(layer: Layer) -> nn.Module:
    """The conv (3x3 or 1x1, padding kernel // 2) or linear module of a spec.Layer."""
    if layer.kernel:
        mode = "circular" if layer.circular else "zeros"
        return nn.Conv2d(
            layer.in_features,
            layer.out_features,
            layer.kernel,
            layer.stride,
            layer.kernel // 2,
            bias=layer.bias,
            padding_mode=mode,
        )
    return nn.Linear(layer.in_features, layer.out_features, layer.bias)


def make_norm(norm: Norm | None, image: bool) -> nn.Module:
    if norm is None:
        return nn.Identity()
    kind = nn.BatchNorm2d if image else nn.BatchNorm1d
    return kind(norm.features, eps=BN_EPS, momentum=BN_MOMENTUM)


class IdentityShortcut(nn.Module):
    """The parameter-free shortcut x -> x, used wherever shapes already match."""

    def forward(self, x: Tensor) -> Tensor:
        return x


class ZeroPadShortcut(nn.Module):
    """Option A where the shape changes: identity subsampled by the stride, new channels zero (Sec. 3.3)."""

    def __init__(self, in_channels: int, out_channels: int, stride: int) -> None:
        super().__init__()
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        x = x[:, :, :: self.stride, :: self.stride]
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}->{self.out_channels}, stride={self.stride}, zero-padded"


class ProjectionShortcut(nn.Module):
    """W_s: a learned 1x1 conv (linear in the MLP) with the block's stride, then BN if the net uses BN."""

    def __init__(self, projection: nn.Module, norm: nn.Module) -> None:
        super().__init__()
        self.projection, self.norm = projection, norm

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.projection(x))


class Block(nn.Module):
    """Two weight layers; with a shortcut it is residual, a[l+2] = g(z[l+2] + shortcut(a[l])), else plain.

    `pre`: the full pre-activation unit (He et al. 2016), where norm1 acts on the block's input
    and a[l+2] = z[l+2] + shortcut(a[l]) with no g after the addition.
    """

    def __init__(
        self,
        layer1: nn.Module,
        norm1: nn.Module,
        layer2: nn.Module,
        norm2: nn.Module,
        activation: nn.Module,
        shortcut: nn.Module | None,
        stage: int = 0,
        pre: bool = False,
    ) -> None:
        super().__init__()
        self.stage = stage  # 0-based CIFAR stage (always 0 in the MLP)
        self.pre = pre
        self.layer1, self.norm1, self.layer2, self.norm2 = layer1, norm1, layer2, norm2
        self.activation = activation
        self.shortcut = shortcut  # the block receives its shortcut; None makes it plain
        self.recorder = None  # set by probes.BlockRecorder while measuring; never changes the output

    def branch(self, x: Tensor) -> Tensor:
        """z[l+2] = F(a[l]), the residual branch: the response He et al. Fig. 7 measures."""
        if self.pre:
            out = self.layer1(self.activation(self.norm1(x)))
            return self.layer2(self.activation(self.norm2(out)))
        out = self.activation(self.norm1(self.layer1(x)))
        return self.norm2(self.layer2(out))

    def join(self, branch: Tensor | None, skip: Tensor | None) -> Tensor:
        """a[l+2] from the branch and the shortcut's value (None: absent); post-activation applies g after the sum."""
        out = skip if branch is None else branch if skip is None else branch + skip
        return out if self.pre else self.activation(out)

    def forward(self, x: Tensor) -> Tensor:
        branch = self.branch(x)
        skip = self.shortcut(x) if self.shortcut is not None else None
        out = self.join(branch, skip)
        if self.recorder is not None:
            self.recorder.record(self, branch, skip, out)
        return out


def last_branch_layer(block: Block) -> list[nn.Parameter]:
    """The parameters that make z[l+2]: the second BN's scale and shift (post-activation with BN), else layer2's."""
    has_bn = isinstance(block.norm2, nn.BatchNorm1d | nn.BatchNorm2d)
    return list(getattr(block, last_branch_part(has_bn, block.pre)).parameters())


class Stem(nn.Module):
    """The first weight layer, from the input to the stack's width."""

    def __init__(self, layer: nn.Module, norm: nn.Module, activation: nn.Module) -> None:
        super().__init__()
        self.layer, self.norm, self.activation = layer, norm, activation

    def forward(self, x: Tensor) -> Tensor:
        return self.activation(self.norm(self.layer(x)))


class Stack(nn.Module):
    """Stem -> blocks -> (head) -> (pool) -> classifier; `variant` says whether the blocks have shortcuts.

    `head`: the BN and g after the last pre-activation block (He et al. 2016); absent for post-activation.
    """

    def __init__(
        self, stem: Stem, blocks: nn.Sequential, fc: nn.Linear, variant: str, image: bool, head: Stem | None = None
    ) -> None:
        super().__init__()
        self.stem, self.blocks, self.head, self.fc = stem, blocks, head, fc
        self.variant, self.image = variant, image
        self.spec: NetSpec | None = None  # the structure build_model made it from (paired.PairedStack.of_nets reads it)

    def forward(self, x: Tensor) -> Tensor:
        return self.classify(self.blocks(self.stem(x)))

    def classify(self, out: Tensor) -> Tensor:
        """Logits from the last block's output: (head), (pool), classifier."""
        if self.head is not None:
            out = self.head(out)
        if self.image:
            out = out.mean(dim=(2, 3))  # global average pooling
        return self.fc(out)

    def block_list(self) -> list[Block]:
        return [m for m in self.modules() if isinstance(m, Block)]


def _shortcut(shortcut: Shortcut, image: bool) -> nn.Module:
    """The module of the shortcut structure.choose_shortcut picked by the paper's options; the block itself never decides."""
    if shortcut.kind == "projection" and shortcut.projection is not None:
        return ProjectionShortcut(make_layer(shortcut.projection), make_norm(shortcut.norm, image))
    if shortcut.kind == "zero_pad":
        return ZeroPadShortcut(shortcut.in_features, shortcut.out_features, shortcut.stride)
    return IdentityShortcut()


def _block(spec: BlockSpec, variant: str, image: bool, activation: str) -> Block:
    shortcut = _shortcut(spec.shortcut, image) if variant == "residual" else None
    layers = (make_layer(spec.layer1), make_norm(spec.norm1, image), make_layer(spec.layer2), make_norm(spec.norm2, image))
    return Block(*layers, ACTIVATION_MODULES[activation](), shortcut, spec.stage, spec.pre)


def build_model(
    config: ExperimentConfig, variant: str, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None
) -> Stack:
    """The plain or residual net of `config` (structure: structure.net_spec); shared parameters are identical across the pair."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: {variant!r} is not recognised; allowed: {', '.join(VARIANTS)}")
    spec = pair_spec(config, in_shape, n_classes)
    act = ACTIVATION_MODULES[spec.activation]
    stem = Stem(make_layer(spec.stem), make_norm(spec.stem_norm, spec.image), act())
    blocks = nn.Sequential(*(_block(b, variant, spec.image, spec.activation) for b in spec.blocks))
    head = Stem(nn.Identity(), make_norm(spec.head_norm, spec.image), act()) if spec.pre else None
    model = Stack(stem, blocks, make_layer(spec.fc), variant, spec.image, head)
    model.spec = spec
    initialise(model, config)
    return model


def pair_spec(config: ExperimentConfig, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None) -> NetSpec:
    """structure.net_spec with the dataset's input shape and class count unless given."""
    if in_shape is None or n_classes is None:
        from resnet_core.data import dataset_info

        info = dataset_info(config)
        in_shape, n_classes = in_shape or info.in_shape, n_classes or info.n_classes
    return net_spec(config, in_shape, n_classes)


def build_pair(
    config: ExperimentConfig, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None
) -> dict[str, Stack]:
    """{"plain": ..., "residual": ...} starting from identical shared weights."""
    return {v: build_model(config, v, in_shape, n_classes) for v in VARIANTS}


def initialise(model: Stack, config: ExperimentConfig) -> None:
    """He or Xavier weights, each drawn by structure.init_weight_ from a generator seeded by (seed, layer name)."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue  # BatchNorm starts at scale 1, shift 0 as constructed
            init_weight_(module.weight, config, name)
            if module.bias is not None:
                module.bias.zero_()
        if config.init == "zero_residual":
            # Goyal et al. 2017 ("zero_init_residual"): every block starts as its shortcut.
            for block in model.block_list():
                for param in last_branch_layer(block):
                    param.zero_()
