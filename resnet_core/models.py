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

import zlib

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig
from resnet_core.specs import VARIANTS

ACTIVATION_MODULES: dict[str, type[nn.Module]] = {"relu": nn.ReLU, "tanh": nn.Tanh, "sigmoid": nn.Sigmoid, "gelu": nn.GELU}


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, bias: bool = False, padding: str = "zeros") -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=3, stride=stride, padding=1, bias=bias, padding_mode=padding)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(in_channels, out_channels, kernel_size=1, stride=stride, bias=False)


def norm_layer(config: ExperimentConfig, features: int, image: bool) -> nn.Module:
    if config.norm == "none":
        return nn.Identity()
    return nn.BatchNorm2d(features) if image else nn.BatchNorm1d(features)


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
    last = block.norm2 if has_bn and not block.pre else block.layer2
    return list(last.parameters())


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


def _shortcut(config: ExperimentConfig, in_features: int, out_features: int, stride: int, image: bool) -> nn.Module:
    """Choose a block's shortcut by the paper's options; the block itself never decides."""
    changes_shape = stride != 1 or in_features != out_features
    if config.shortcut == "C" or (config.shortcut == "B" and changes_shape):
        projection = conv1x1(in_features, out_features, stride) if image else nn.Linear(in_features, out_features, bias=False)
        return ProjectionShortcut(projection, norm_layer(config, out_features, image))
    if changes_shape:
        return ZeroPadShortcut(in_features, out_features, stride)
    return IdentityShortcut()


def _block(
    config: ExperimentConfig, variant: str, in_features: int, out_features: int, stride: int, image: bool, stage: int = 0
) -> Block:
    bias = config.norm == "none"  # BN's shift makes a bias redundant (the paper's convs are bias-free)
    act = ACTIVATION_MODULES[config.activation]
    if image:
        layer1 = conv3x3(in_features, out_features, stride, bias, config.padding)
        layer2 = conv3x3(out_features, out_features, 1, bias, config.padding)
    else:
        layer1, layer2 = nn.Linear(in_features, out_features, bias), nn.Linear(out_features, out_features, bias)
    shortcut = _shortcut(config, in_features, out_features, stride, image) if variant == "residual" else None
    pre = config.block == "pre"
    norm1 = norm_layer(config, in_features if pre else out_features, image)  # pre: BN of the block's input
    return Block(layer1, norm1, layer2, norm_layer(config, out_features, image), act(), shortcut, stage, pre)


def build_model(
    config: ExperimentConfig, variant: str, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None
) -> Stack:
    """The plain or residual net of `config`; shared parameters are identical across the pair for one seed."""
    if variant not in VARIANTS:
        raise ValueError(f"variant: {variant!r} is not recognised; allowed: {', '.join(VARIANTS)}")
    if in_shape is None or n_classes is None:
        from resnet_core.data import dataset_info

        info = dataset_info(config)
        in_shape, n_classes = in_shape or info.in_shape, n_classes or info.n_classes
    image = config.arch == "cnn"
    bias = config.norm == "none"
    act = ACTIVATION_MODULES[config.activation]
    w = config.width
    if image:
        stem = Stem(conv3x3(in_shape[0], w, 1, bias, config.padding), norm_layer(config, w, True), act())
        n = (config.depth - 2) // 6
        blocks, in_features = [], w
        for stage, out_features in enumerate((w, 2 * w, 4 * w)):
            for i in range(n):
                stride = 2 if stage > 0 and i == 0 else 1
                blocks.append(_block(config, variant, in_features, out_features, stride, True, stage))
                in_features = out_features
    else:
        stem = Stem(nn.Linear(in_shape[0], w, bias), norm_layer(config, w, False), act())
        blocks = [_block(config, variant, w, w, 1, False) for _ in range(config.depth // 2)]
        in_features = w
    head = Stem(nn.Identity(), norm_layer(config, in_features, image), act()) if config.block == "pre" else None
    model = Stack(stem, nn.Sequential(*blocks), nn.Linear(in_features, n_classes), variant, image, head)
    initialise(model, config)
    return model


def build_pair(
    config: ExperimentConfig, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None
) -> dict[str, Stack]:
    """{"plain": ..., "residual": ...} starting from identical shared weights."""
    return {v: build_model(config, v, in_shape, n_classes) for v in VARIANTS}


def initialise(model: Stack, config: ExperimentConfig) -> None:
    """He or Xavier weights, each drawn from a generator seeded by (seed, parameter name).

    Seeding per name makes pairing structural: plain and residual nets share every
    parameter name except the projection shortcuts, so they start identical without copying.
    """
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, nn.Conv2d | nn.Linear):
                continue  # BatchNorm starts at scale 1, shift 0 as constructed
            generator = torch.Generator().manual_seed(config.seed * 1_000_003 + zlib.crc32(name.encode()))
            if config.init == "xavier":
                nn.init.xavier_normal_(module.weight, generator=generator)
            else:  # he and zero_residual: Kaiming normal, fan-in (He et al. 2015b)
                nn.init.kaiming_normal_(module.weight, mode="fan_in", nonlinearity="relu", generator=generator)
            if module.bias is not None:
                module.bias.zero_()
        if config.init == "zero_residual":
            # Goyal et al. 2017 ("zero_init_residual"): every block starts as its shortcut.
            for block in model.block_list():
                for param in last_branch_layer(block):
                    param.zero_()
