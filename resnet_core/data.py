"""Datasets of the lab: five synthetic 2-D sets, the 8x8 digits and a local CIFAR-10 archive.

Nothing is downloaded: the 2-D sets are generated, the digits ship with scikit-learn and
CIFAR-10 is read from a path the user gives (``cifar-10-python.tar.gz`` or its folder; resnet_core/cifar10.py).

``load_dataset(config)`` returns ``(x_train, y_train, x_test, y_test)`` on the CPU: float32
inputs shaped for ``config.arch`` (mlp: ``(N, features)``; cnn: ``(N, C, H, W)``) and int64
labels. Inputs are standardised with statistics of the training split only, so the test
split stays unseen:

=========  =======  ========================  =====================================
dataset    classes  mlp / cnn sample shape    standardisation
=========  =======  ========================  =====================================
2-D sets   2 (3*)   (2,) / --                 per feature
digits     10       (64,) / (1, 8, 8)         one global mean and std (some pixels
                                              are constant, per-pixel would divide by 0)
cifar10    10       (3072,) / (3, 32, 32)     per channel
=========  =======  ========================  =====================================

``config.image_size`` resizes the image sets (bilinear, before standardising): digits at 32
are (1, 32, 32), so the 3x3 convs' zero padding is a small share of each map (docs/SCIENCE_NOTES.md 6).

(*) ``gaussians`` has three blobs, so the 2-D boundary plots show more than one frontier.

Splits are stratified and seeded by ``config.seed``; CIFAR-10 keeps the archive's own
50,000 / 10,000 split and ignores ``test_fraction``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from resnet_core.cifar10 import read_cifar10
from resnet_core.config import IMAGE_SHAPES, NATIVE_SIZE, SYNTHETIC_DATASETS, ExperimentConfig

if TYPE_CHECKING:
    import torch

# torch and scikit-learn are imported by the functions that load data, never at import: the web server
# reads this module's names and sizes (labels, shapes, split sizes for the cost estimate) without loading them.

DATASET_LABELS: dict[str, str] = {
    "spirals": "Two spirals",
    "moons": "Two moons",
    "circles": "Concentric circles",
    "xor": "XOR quadrants",
    "gaussians": "Three Gaussian blobs",
    "digits": "Handwritten digits (8x8)",
    "cifar10": "CIFAR-10 (local archive)",
}
N_CLASSES: dict[str, int] = {"spirals": 2, "moons": 2, "circles": 2, "xor": 2, "gaussians": 3, "digits": 10, "cifar10": 10}
DIGITS_SAMPLES = 1797  # scikit-learn's digits
CIFAR10_SPLIT = (50_000, 10_000)  # the archive's own train / test split


@dataclass(frozen=True)
class DatasetInfo:
    """What a model builder and the UI need to know about a dataset, without loading it."""

    in_shape: tuple[int, ...]
    n_classes: int


def image_shape(config: ExperimentConfig) -> tuple[int, int, int]:
    """(channels, height, width) of one image as the nets see it: the dataset's own, or resized to `image_size`."""
    channels, height, width = IMAGE_SHAPES[config.dataset]
    if config.image_size == NATIVE_SIZE:
        return channels, height, width
    return channels, config.image_size, config.image_size


def dataset_info(config: ExperimentConfig) -> DatasetInfo:
    """Per-sample input shape and class count; never touches the disk."""
    name = config.dataset
    shape = (2,) if name in SYNTHETIC_DATASETS else image_shape(config)
    in_shape = shape if config.arch == "cnn" else (math.prod(shape),)
    return DatasetInfo(in_shape, N_CLASSES[name])


def split_sizes(config: ExperimentConfig) -> tuple[int, int]:
    """(train, test) sample counts without loading anything: the host's cost estimate runs on every page load.

    CIFAR-10 counts the full archive's split; a truncated copy only makes the estimate high.
    """
    if config.dataset == "cifar10":
        return CIFAR10_SPLIT
    n = DIGITS_SAMPLES if config.dataset == "digits" else config.n_samples
    n_test = _test_size(n, N_CLASSES[config.dataset], config.test_fraction)
    return n - n_test, n_test


def load_dataset(config: ExperimentConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Standardised ``(x_train, y_train, x_test, y_test)``; fresh tensors each call, so callers may mutate them."""
    import torch

    split = _load_split(*_cache_key(config))
    # Standardising here (not in the cache) creates new tensors every call and keeps the cache
    # at the raw size: CIFAR-10 stays 180 MB of uint8 instead of 740 MB of float32.
    x_train = split.x_train.to(torch.float32, copy=True).sub_(split.mean).div_(split.std)
    x_test = split.x_test.to(torch.float32, copy=True).sub_(split.mean).div_(split.std)
    if config.arch == "mlp":
        x_train, x_test = x_train.flatten(1), x_test.flatten(1)
    return x_train, split.y_train.clone(), x_test, split.y_test.clone()


def dataset_key(config: ExperimentConfig) -> tuple[str | int | float, ...]:
    """What `load_dataset(config)` depends on: configs with equal keys get equal tensors (a sweep loads each once)."""
    return (config.arch, *_cache_key(config))


@dataclass(frozen=True)
class _Split:
    """Raw inputs (canonical shape) and labels, plus training-split statistics that broadcast over them."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor
    mean: torch.Tensor
    std: torch.Tensor


def _cache_key(config: ExperimentConfig) -> tuple[str, int, float, float, int, str, int]:
    """The data-relevant fields, with those a dataset ignores zeroed so they cannot miss the cache.

    arch is absent on purpose: it only reshapes, which happens after the cache. The image side is
    the resolved one, so image_size 8 and the digits' own size share an entry.
    """
    c = config
    if c.dataset == "cifar10":
        return (c.dataset, 0, 0.0, 0.0, 0, str(Path(c.data_path).expanduser().resolve()), image_shape(c)[-1])
    if c.dataset == "digits":
        return (c.dataset, 0, 0.0, c.test_fraction, c.seed, "", image_shape(c)[-1])
    return (c.dataset, c.n_samples, c.noise, c.test_fraction, c.seed, "", NATIVE_SIZE)


def resize_images(images: np.ndarray, size: int) -> np.ndarray:
    """(N, C, H, W) images as float32 at size x size: bilinear, antialiased when shrinking; deterministic on the CPU.

    The same size returns the images unchanged, so the native size is bit-for-bit the dataset as shipped.
    """
    if images.shape[-1] == size and images.shape[-2] == size:
        return images
    import torch
    import torch.nn.functional as F

    x = torch.from_numpy(np.ascontiguousarray(images, dtype=np.float32))
    resized = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=size < images.shape[-1])
    return resized.numpy()


@functools.lru_cache(maxsize=16)
def _load_split(dataset: str, n_samples: int, noise: float, test_fraction: float, seed: int, data_path: str, size: int) -> _Split:
    import torch

    if dataset == "cifar10":
        x_train, y_train, x_test, y_test = read_cifar10(data_path)
        if size != x_train.shape[-1]:  # resized pixels rounded back to uint8: the histogram statistics below still hold
            x_train, x_test = (np.clip(np.rint(resize_images(x, size)), 0, 255).astype(np.uint8) for x in (x_train, x_test))
        # Per-channel statistics from a 256-bin histogram: exact, and no float copy of 150 MB of pixels
        # (torch's bincount counts uint8 as is; numpy's would first widen them to int64: benchmarks/RESULTS.md, "Changes").
        pixels = torch.from_numpy(x_train)
        counts = torch.stack([torch.bincount(pixels[:, c].flatten(), minlength=256) for c in range(3)]).double().numpy()
        values = np.arange(256, dtype=np.float64)
        mean = counts @ values / counts.sum(1)
        std = np.sqrt(counts @ values**2 / counts.sum(1) - mean**2)
        mean, std = mean.reshape(1, 3, 1, 1), std.reshape(1, 3, 1, 1)
    else:
        if dataset == "digits":
            from sklearn.datasets import load_digits

            x, y = load_digits(return_X_y=True)
            x = resize_images(x.reshape(-1, *IMAGE_SHAPES["digits"]), size)
        else:
            x, y = _make_2d(dataset, n_samples, noise, seed)
        x_train, x_test, y_train, y_test = _stratified_split(x, y, test_fraction, seed)
        axis = (0,) if dataset in SYNTHETIC_DATASETS else None  # 2-D: per feature; digits: one global value
        mean = x_train.mean(axis=axis, keepdims=True, dtype=np.float64)
        std = x_train.std(axis=axis, keepdims=True, dtype=np.float64)
    std = np.where(std > 0, std, 1.0)  # a constant feature (noise 0) stays 0 instead of NaN
    t = torch.from_numpy
    return _Split(t(x_train), t(y_train).long(), t(x_test), t(y_test).long(), t(np.float32(mean)), t(np.float32(std)))


def _make_2d(dataset: str, n: int, noise: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Points (n, 2) and labels of one synthetic set; noise is the std of a Gaussian jitter (blob spread for gaussians)."""
    from sklearn.datasets import make_blobs, make_circles, make_moons

    rng = np.random.default_rng(seed)
    if dataset == "spirals":
        y = np.arange(n) % 2
        t = rng.uniform(0.05, 1.0, n)  # radius; starting off-centre keeps the two arms apart at the middle
        angle = 1.75 * 2 * np.pi * t + np.pi * y  # 1.75 turns, second arm rotated by half a turn
        x = t[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1) + noise * rng.standard_normal((n, 2))
    elif dataset == "xor":
        # Uniform on the square with label = x*y > 0, drawn class-balanced (alternating labels pick the quadrant
        # signs) so even n = 20 splits stratified; the label is the clean point's, then noise blurs the axes.
        y = np.arange(n) % 2
        sign = rng.choice([-1.0, 1.0], n)
        clean = rng.uniform(0.0, 1.0, (n, 2)) * np.stack([sign, np.where(y == 1, sign, -sign)], axis=1)
        x = clean + noise * rng.standard_normal((n, 2))
    elif dataset == "moons":
        x, y = make_moons(n, noise=noise, random_state=seed)
    elif dataset == "circles":
        x, y = make_circles(n, noise=noise, factor=0.5, random_state=seed)
    elif dataset == "gaussians":
        centres = [[np.cos(a), np.sin(a)] for a in np.pi / 2 + 2 * np.pi / 3 * np.arange(3)]  # unit triangle
        x, y = make_blobs(n, centers=np.array(centres), cluster_std=noise, random_state=seed)
    else:
        raise ValueError(f"dataset: {dataset!r} is not a 2-D set; allowed: {', '.join(SYNTHETIC_DATASETS)}")
    return x.astype(np.float32), y.astype(np.int64)


def _stratified_split(x: np.ndarray, y: np.ndarray, test_fraction: float, seed: int) -> tuple[np.ndarray, ...]:
    """Seeded stratified split; the test size is clamped so both sides can hold every class (tiny n)."""
    from sklearn.model_selection import train_test_split

    n_test = _test_size(len(y), len(np.unique(y)), test_fraction)
    return train_test_split(x.astype(np.float32), y, test_size=n_test, random_state=seed, stratify=y)


def _test_size(n: int, classes: int, test_fraction: float) -> int:
    return min(max(math.ceil(n * test_fraction), classes), n - classes)
