"""Lesion study (Veit, Wilber & Belongie 2016, arXiv 1605.06431, Sec. 4): delete blocks of a trained net at test time.

Deleting a block removes its residual branch F and keeps what the block's structure leaves:
a[l+2] = g(shortcut(a[l])) for the post-activation unit, shortcut(a[l]) for pre-activation
(`Block.join` with no branch). So a residual block keeps its own shortcut, a projection W_s
included. A plain block has no shortcut, so the same deletion gives it the parameter-free one:
the identity where the shape stays, and at a stage transition (stride 2, twice the channels)
option A's map, subsample and zero-pad. With ReLU, post-activation and option A, a deleted plain
block and a deleted residual block compute exactly the same function.

BatchNorm: after a deletion the later layers see a different input distribution, and the running
statistics collected during training no longer describe it. Every lesioned net (and the intact
baseline, so all are measured alike) therefore gets its BN statistics re-estimated on the whole
training set, passed through the lesioned net in chunks of EVAL_BATCH (cumulative average), before
its test error is measured in eval mode. The trained weights are never changed: each lesion works
on a copy.

`lesion_study` measures a trained pair (`after_training` runs it after `train()`) and yields
    {"kind": "lesion", "variant", "mode": "baseline" | "single" | "random", "k", "draw", "deleted": [1-based blocks],
     "transitions" (how many deleted blocks change the shape), "test_error"}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.evaluation import error_rate, estimate_norm_statistics
from resnet_core.models import Block, IdentityShortcut, Stack, ZeroPadShortcut
from resnet_core.specs import DRAWS, VARIANTS
from resnet_core.training import train


def transition(block: Block) -> bool:
    """Whether the block changes the shape (stride 2 and more channels): only CNN stage transitions do."""
    layer1, layer2 = block.layer1, block.layer2
    if isinstance(layer1, nn.Conv2d):
        return layer1.stride[0] != 1 or layer1.in_channels != layer2.out_channels
    return layer1.in_features != layer2.out_features


def bypass(block: Block) -> nn.Module:
    """What carries the signal past a deleted block: its own shortcut, or for a plain block the parameter-free one."""
    if block.shortcut is not None:
        return block.shortcut
    if not transition(block):
        return IdentityShortcut()
    return ZeroPadShortcut(block.layer1.in_channels, block.layer2.out_channels, block.layer1.stride[0])


class DeletedBlock(nn.Module):
    """A block whose residual branch is removed: a[l+2] = join(no branch, bypass(a[l]))."""

    def __init__(self, block: Block) -> None:
        super().__init__()
        self.join, self.bypass = block.join, bypass(block)  # join holds g (post) or nothing (pre)

    def forward(self, x: Tensor) -> Tensor:
        return self.join(None, self.bypass(x))


def lesioned(model: Stack, deleted: Sequence[int]) -> Stack:
    """A copy of `model` with the 0-based blocks in `deleted` replaced by DeletedBlock; the model is untouched."""
    copied = copy.deepcopy(model)
    for i in deleted:
        copied.blocks[i] = DeletedBlock(copied.blocks[i])
    return copied


def lesion_error(model: Stack, deleted: Sequence[int], data: tuple[Tensor, ...]) -> float:
    """Test error of the net with `deleted` blocks removed, BN statistics re-estimated on the training inputs."""
    x_train, _, x_test, y_test = data
    net = lesioned(model, deleted)
    estimate_norm_statistics(net, x_train)
    return float(error_rate(net, x_test, y_test))


def random_subsets(n: int, draws: int, seed: int) -> list[tuple[int, list[int]]]:
    """(draw, sorted 0-based blocks) for k = 1..n, `draws` subsets each (one for k = n: there is only one); seeded."""
    generator = torch.Generator().manual_seed(seed)
    return [
        (draw, sorted(torch.randperm(n, generator=generator)[:k].tolist()))
        for k in range(1, n + 1)
        for draw in range(draws if k < n else 1)
    ]


def lesion_study(
    models: dict[str, Stack], data: tuple[Tensor, ...], config: ExperimentConfig, draws: int = DRAWS
) -> Iterator[dict[str, Any]]:
    """The baseline, every single deletion, then `draws` random sets of k deletions for every k; both nets alike."""
    n = len(models[VARIANTS[0]].block_list())
    plan = [("baseline", 0, [])] + [("single", 0, [i]) for i in range(n)]
    plan += [("random", draw, deleted) for draw, deleted in random_subsets(n, draws, config.seed)]  # same for both nets
    changes_shape = [transition(block) for block in models[VARIANTS[0]].block_list()]
    for variant in VARIANTS:
        model = models[variant].eval()
        for mode, draw, deleted in plan:
            yield {
                "kind": "lesion",
                "variant": variant,
                "mode": mode,
                "k": len(deleted),
                "draw": draw,
                "deleted": [i + 1 for i in deleted],
                "transitions": sum(changes_shape[i] for i in deleted),  # deleted blocks that change the shape
                "test_error": lesion_error(model, deleted, data),
            }


Study = Callable[[dict[str, Stack], tuple[Tensor, ...], ExperimentConfig], Iterator[dict[str, Any]]]


def after_training(config: ExperimentConfig, *studies: Study) -> Iterator[dict[str, Any]]:
    """Train the pair (its records stream through, for progress and curves), then run each study on the trained nets."""
    models: dict[str, Stack] = {}
    yield from train(config, keep_models=models)
    device = next(models[VARIANTS[0]].parameters()).device
    data = tuple(t.to(device) for t in load_dataset(config))
    for study in studies:
        yield from study(models, data, config)
