"""The paper's training recipe beyond plain SGD (He et al. 2015, Sec. 4.2): learning-rate drops and augmentation.

Both are off by default (`lr_drops=""`, `augment="none"`): the lab's digits runs are short, and
the recipe is for reproducing the CIFAR-10 table on a cluster (`--preset paper-cifar10`).
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor

from resnet_core.config import AUGMENT_PAD, LR_DROP_FACTOR, ExperimentConfig, lr_drop_steps


def lr_schedule(config: ExperimentConfig, optimizer: torch.optim.Optimizer) -> torch.optim.lr_scheduler.LRScheduler | None:
    """The rate divided by 10 after each step count in `lr_drops` (He et al. 2015, Sec. 4.2); None when it is constant."""
    drops = lr_drop_steps(config.lr_drops)
    return torch.optim.lr_scheduler.MultiStepLR(optimizer, list(drops), gamma=LR_DROP_FACTOR) if drops else None


def augmenter(config: ExperimentConfig) -> Callable[[Tensor], Tensor]:
    """The config's minibatch augmentation: `pad_crop_flip` with its own generator seeded by the config, or no change."""
    if config.augment == "none":
        return lambda x: x
    generator = torch.Generator().manual_seed(config.seed)  # apart from the minibatch order, which stays the same
    return lambda x: pad_crop_flip(x, generator)


def pad_crop_flip(x: Tensor, generator: torch.Generator, pad: int = AUGMENT_PAD) -> Tensor:
    """Pad with zeros (the training mean, after standardising), crop back at a random offset, flip half (He et al. Sec. 4.2).

    Offsets and flips are drawn on the CPU from `generator`, so every device crops alike; the images stay on theirs.
    """
    n, c, h, w = x.shape
    offsets = torch.randint(0, 2 * pad + 1, (n, 2), generator=generator).to(x.device)  # (N, 2): top, left
    flips = (torch.rand(n, generator=generator) < 0.5).to(x.device)  # (N,)
    padded = F.pad(x, (pad, pad, pad, pad))  # (N, C, H + 2 pad, W + 2 pad)
    rows = offsets[:, :1] + torch.arange(h, device=x.device)  # (N, H)
    cols = offsets[:, 1:] + torch.arange(w, device=x.device)  # (N, W)
    cols = torch.where(flips[:, None], cols.flip(1), cols)  # a flipped crop reads its columns right to left
    batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)
    channel = torch.arange(c, device=x.device).view(1, c, 1, 1)
    return padded[batch, channel, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]  # (N, C, H, W)
