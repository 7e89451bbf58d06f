"""The built nets the Identity & L2 and Shortcuts pages inspect: torch code, run only in job workers (lab/jobs.py).

Identity: every block's last layer scaled by alpha (`scale_branches`), each block's input and output
read from one forward pass (`identity_check`), and the scaled pair trained by the engine's loop
(`alpha_records`). Shortcuts: the plain net and options A, B, C built side by side, their shapes
and shortcuts per block (`transition_table`) and parameter counts. The pages read the records these
produce with lab/identity.py and lab/shortcuts.py, which never load torch.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pandas as pd
import torch
from torch import Tensor, nn

from resnet_core.config import SHORTCUTS, ExperimentConfig
from resnet_core.data import dataset_info, load_dataset
from resnet_core.models import Block, ProjectionShortcut, Stack, ZeroPadShortcut, build_model, build_pair, last_branch_layer
from resnet_core.training import minibatch_indices, train


@torch.no_grad()
def scale_branches(model: Stack, alpha: float) -> None:
    """Multiply every block's last layer by alpha: at alpha = 0 each branch outputs exactly 0 (the L2 limit)."""
    for block in model.block_list():
        for param in last_branch_layer(block):
            param.mul_(alpha)


def is_identity_block(block: Block) -> bool:
    return type(block.shortcut).__name__ == "IdentityShortcut"


def block_io(model: Stack, x: Tensor) -> dict[int, tuple[Tensor, Tensor]]:
    """Each block's (input, output) from one training-mode forward pass; key -1 holds (x, logits)."""
    seen: dict[int, tuple[Tensor, Tensor]] = {}

    def keep(i: int) -> Any:
        return lambda module, args, out: seen.__setitem__(i, (args[0], out))

    hooks = [b.register_forward_hook(keep(i)) for i, b in enumerate(model.block_list())]
    try:
        seen[-1] = (x, model.train()(x))
    finally:
        for hook in hooks:
            hook.remove()
    return seen


@torch.no_grad()
def identity_check(models: dict[str, Stack], x: Tensor) -> tuple[pd.DataFrame, dict[str, float]]:
    """Per block: max |a[l+2] - a[l]| and max |a[l+2] - shortcut(a[l])|; per net: the output's std across the batch.

    Read with forward hooks on the real blocks in training mode (batch statistics), so this is
    what the nets compute, not what the algebra promises. Transition blocks change the shape,
    so a[l+2] - a[l] does not exist there (NaN); their shortcut difference is still measured.
    """
    rows: list[dict[str, Any]] = []
    spread: dict[str, float] = {}
    for name, model in models.items():
        blocks = model.block_list()
        seen = block_io(model, x)
        logits = seen.pop(-1)[1]
        spread[name] = float(logits.std(dim=0).max())
        for i, block in enumerate(blocks):
            a_in, a_out = seen[i]
            same = a_in.shape == a_out.shape
            skip = block.shortcut(a_in) if block.shortcut is not None else None
            rows.append(
                {
                    "run": name,
                    "block": i + 1,
                    "stage": block.stage + 1,
                    "identity_block": is_identity_block(block),
                    "in_shape": "x".join(map(str, a_in.shape[1:])),
                    "out_shape": "x".join(map(str, a_out.shape[1:])),
                    "max_diff_input": float((a_out - a_in).abs().max()) if same else math.nan,
                    "max_diff_shortcut": float((a_out - skip).abs().max()) if skip is not None else math.nan,
                    "output_std": float(a_out.std()),
                }
            )
    return pd.DataFrame(rows), spread


def alpha_models(config: ExperimentConfig, alpha: float) -> dict[str, Stack]:
    """The initial plain/residual pair of `config` with every block's last layer scaled by alpha."""
    info = dataset_info(config)
    models = build_pair(config, info.in_shape, info.n_classes)
    scale_pair(models, alpha)
    return models


def scale_pair(models: dict[str, Stack], alpha: float) -> None:
    for model in models.values():
        scale_branches(model, alpha)


def alpha_records(config: ExperimentConfig, alpha: float) -> Iterator[dict[str, Any]]:
    """The pair trained by `train()` from weights whose every block's last layer was scaled by alpha."""
    return train(config, prepare=lambda models: scale_pair(models, alpha))


def first_batch(config: ExperimentConfig) -> Tensor:
    """The first training minibatch `train()` would use: the inputs the identity check feeds the nets."""
    x_train = load_dataset(config)[0]
    return x_train[next(minibatch_indices(config, len(x_train)))]


def shortcut_models(config: ExperimentConfig) -> dict[str, Stack]:
    """The plain net and the residual net with options A, B and C; shared layers start identical (seeded by name)."""
    info = dataset_info(config)
    models = {"plain": build_model(config, "plain", info.in_shape, info.n_classes)}
    for option in SHORTCUTS:
        models[option] = build_model(config.replace(shortcut=option), "residual", info.in_shape, info.n_classes)
    return models


def describe_shortcut(module: nn.Module | None) -> str:
    """What a block's shortcut does, in the paper's words, read from the module itself."""
    if module is None:
        return "none (plain)"
    if isinstance(module, ZeroPadShortcut):
        return f"subsample by {module.stride}, zero-pad channels {module.in_channels}->{module.out_channels} (0 params)"
    if isinstance(module, ProjectionShortcut):
        n = sum(p.numel() for p in module.parameters())
        return (
            f"1x1 projection W_s {module.projection.in_channels}->{module.projection.out_channels}, stride "
            f"{module.projection.stride[0]} ({n} params)"
        )
    return "identity (0 params)"


@torch.no_grad()
def transition_table(config: ExperimentConfig) -> pd.DataFrame:
    """Every block: stage, C x H x W in and out (measured by a forward pass) and what options A, B, C put on its shortcut."""
    info = dataset_info(config)
    models = shortcut_models(config)
    blocks = models["A"].block_list()
    seen = block_io(models["A"], torch.zeros(2, *info.in_shape))
    shapes = {i: ("x".join(map(str, a_in.shape[1:])), "x".join(map(str, a_out.shape[1:]))) for i, (a_in, a_out) in seen.items()}
    rows = []
    for i, block in enumerate(blocks):
        row = {
            "block": i + 1,
            "stage": block.stage + 1,
            "in": shapes[i][0],
            "out": shapes[i][1],
            "transition": shapes[i][0] != shapes[i][1],
        }
        row |= {option: describe_shortcut(models[option].block_list()[i].shortcut) for option in SHORTCUTS}
        rows.append(row)
    return pd.DataFrame(rows)


def parameter_counts(
    config: ExperimentConfig, in_shape: tuple[int, ...] | None = None, n_classes: int | None = None
) -> dict[str, int]:
    """Parameters of the plain net and of options A, B, C, counted on the built models."""
    out = {"plain": sum(p.numel() for p in build_model(config, "plain", in_shape, n_classes).parameters())}
    for option in SHORTCUTS:
        model = build_model(config.replace(shortcut=option), "residual", in_shape, n_classes)
        out[option] = sum(p.numel() for p in model.parameters())
    return out
