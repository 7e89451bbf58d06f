"""The paper's training recipe in the engine: lr drops, pad-crop-flip augmentation (seeded, on the device), the preset.

Both are off by default, so every other config trains exactly as before.
"""

from __future__ import annotations

import json

import pytest
import torch

from resnet_core.config import PRESETS, ConfigError, ExperimentConfig, lr_drop_steps
from resnet_core.recipe import augmenter, lr_schedule, pad_crop_flip
from resnet_core.training import train

FAST = ExperimentConfig(depth=8, width=4, steps=6, batch_size=16, measure_every=3, eval_every=3)


def crops_by_loop(x: torch.Tensor, offsets: torch.Tensor, flips: torch.Tensor, pad: int = 4) -> torch.Tensor:
    """The oracle: pad each image, cut its window, flip it if told, one image at a time."""
    out = []
    for image, (top, left), flip in zip(x, offsets.tolist(), flips.tolist(), strict=True):
        padded = torch.zeros(image.shape[0], image.shape[1] + 2 * pad, image.shape[2] + 2 * pad)
        padded[:, pad:-pad, pad:-pad] = image
        crop = padded[:, top : top + image.shape[1], left : left + image.shape[2]]
        out.append(crop.flip(-1) if flip else crop)
    return torch.stack(out)


def test_pad_crop_flip_matches_a_per_image_loop_with_the_same_draws() -> None:
    x = torch.randn(64, 3, 32, 32)
    out = pad_crop_flip(x, torch.Generator().manual_seed(7))
    replay = torch.Generator().manual_seed(7)  # the same draws, in the function's order
    offsets = torch.randint(0, 9, (64, 2), generator=replay)
    flips = torch.rand(64, generator=replay) < 0.5
    assert out.shape == x.shape
    assert torch.equal(out, crops_by_loop(x, offsets, flips))
    assert 0 < int(flips.sum()) < 64 and len(set(offsets.flatten().tolist())) == 9  # every offset 0..8 is drawn


def test_augmentation_is_seeded_and_off_by_default() -> None:
    x = torch.randn(8, 1, 8, 8)
    on = FAST.replace(augment="pad-crop-flip")
    assert torch.equal(augmenter(on)(x), augmenter(on)(x))
    assert not torch.equal(augmenter(on)(x), augmenter(on.replace(seed=1))(x))
    assert augmenter(FAST)(x) is x


def test_lr_drops_divide_the_rate_by_ten_after_each_listed_step() -> None:
    weight = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([weight], lr=0.1)
    schedule = lr_schedule(FAST.replace(lr_drops="2,4"), optimizer)
    used = []
    for _ in range(6):
        used.append(optimizer.param_groups[0]["lr"])
        optimizer.step()
        schedule.step()
    assert used == pytest.approx([0.1, 0.1, 0.01, 0.01, 0.001, 0.001])
    assert lr_schedule(FAST, optimizer) is None


def test_the_recipe_changes_training_and_reruns_identically() -> None:
    def records(config: ExperimentConfig) -> str:
        return json.dumps(list(train(config)))

    recipe = FAST.replace(augment="pad-crop-flip", lr_drops="3")
    assert records(recipe) == records(recipe)
    assert records(recipe) != records(FAST.replace(lr_drops="3")) != records(FAST)


@pytest.mark.parametrize("text", ["32k", "48000,32000", "0", "1,,2", " 1", "１", "9" * 5000, "200000"])
def test_bad_lr_drops_are_a_config_error(text: str) -> None:
    with pytest.raises(ConfigError) as error:
        ExperimentConfig(lr_drops=text)
    assert error.value.field == "lr_drops" and "allowed" in str(error.value)


def test_augmentation_needs_images() -> None:
    with pytest.raises(ConfigError) as error:
        ExperimentConfig(arch="mlp", dataset="moons", depth=2, augment="pad-crop-flip")
    assert error.value.field == "augment"


def test_the_paper_preset_is_he_et_al_cifar10_recipe(tmp_path) -> None:
    config = ExperimentConfig(**PRESETS["paper-cifar10"], depth=110, data_path=str(tmp_path))
    assert (config.arch, config.dataset, config.width, config.shortcut) == ("cnn", "cifar10", 16, "A")
    assert (config.optimizer, config.momentum, config.l2, config.batch_size, config.lr) == ("sgd", 0.9, 1e-4, 128, 0.1)
    assert (config.steps, lr_drop_steps(config.lr_drops), config.augment) == (64_000, (32_000, 48_000), "pad-crop-flip")
