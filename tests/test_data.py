"""Tests of resnet_core.data: shapes, seeding, stratified splits, train-only standardisation, the CIFAR-10 reader."""

from __future__ import annotations

import pickle
import tarfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_core.cifar10 import DatasetNotFoundError, read_cifar10
from resnet_core.config import SYNTHETIC_DATASETS, ExperimentConfig
from resnet_core.data import dataset_info, load_dataset

PER_BATCH = 20  # images per fake CIFAR-10 batch: 100 train, 20 test
PIXEL = (1, 5, 7)  # green channel, row 5, column 7: flat index 1 * 1024 + 5 * 32 + 7 in a CIFAR row


def mlp(dataset: str, **kw: object) -> ExperimentConfig:
    return ExperimentConfig(arch="mlp", dataset=dataset, depth=2, **kw)


def check_types(x_train: torch.Tensor, y_train: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor) -> None:
    assert x_train.dtype == x_test.dtype == torch.float32
    assert y_train.dtype == y_test.dtype == torch.int64
    assert all(t.device.type == "cpu" for t in (x_train, y_train, x_test, y_test))
    assert len(x_train) == len(y_train) and len(x_test) == len(y_test)


@pytest.mark.parametrize("dataset", SYNTHETIC_DATASETS)
def test_2d_sets_shapes_classes_and_info(dataset: str) -> None:
    config = mlp(dataset, n_samples=200, test_fraction=0.25)
    x_train, y_train, x_test, y_test = load_dataset(config)
    check_types(x_train, y_train, x_test, y_test)
    info = dataset_info(config)
    assert (len(x_train), len(x_test)) == (150, 50)
    assert x_train.shape[1:] == x_test.shape[1:] == info.in_shape == (2,)
    assert set(y_train.tolist()) == set(y_test.tolist()) == set(range(info.n_classes))
    assert torch.isfinite(x_train).all() and torch.isfinite(x_test).all()


@pytest.mark.parametrize("arch", ["mlp", "cnn"])
def test_digits_shapes_and_counts(arch: str) -> None:
    config = ExperimentConfig(arch=arch, dataset="digits", depth=20 if arch == "cnn" else 2, test_fraction=0.2)
    x_train, y_train, x_test, y_test = load_dataset(config)
    check_types(x_train, y_train, x_test, y_test)
    info = dataset_info(config)
    assert len(x_train) + len(x_test) == 1797 and len(x_test) == 360  # ceil(0.2 * 1797)
    assert x_train.shape[1:] == info.in_shape == ((1, 8, 8) if arch == "cnn" else (64,))
    assert info.n_classes == 10
    assert set(y_train.tolist()) == set(y_test.tolist()) == set(range(10))


@pytest.mark.parametrize("dataset", [*SYNTHETIC_DATASETS, "digits"])
def test_seed_determines_data_and_split(dataset: str) -> None:
    a, b, c = (load_dataset(mlp(dataset, n_samples=100, seed=s)) for s in (1, 1, 2))
    assert all(torch.equal(u, v) for u, v in zip(a, b, strict=True))
    assert not torch.equal(a[0], c[0])


@settings(max_examples=15, deadline=None)
@given(
    dataset=st.sampled_from(SYNTHETIC_DATASETS),
    n=st.integers(20, 400),
    fraction=st.floats(0.05, 0.9),
    seed=st.integers(0, 2**31 - 1),
)
def test_split_is_stratified_and_complete(dataset: str, n: int, fraction: float, seed: int) -> None:
    _, y_train, _, y_test = load_dataset(mlp(dataset, n_samples=n, test_fraction=fraction, seed=seed))
    y = torch.cat([y_train, y_test])
    assert len(y) == n
    n_classes = dataset_info(mlp(dataset)).n_classes
    assert set(y_train.tolist()) == set(y_test.tolist()) == set(range(n_classes))  # even when n is tiny
    # Stratified: each class's test share is within one sample of the overall share.
    share = len(y_test) / n
    for k in range(n_classes):
        assert abs((y_test == k).sum().item() - share * (y == k).sum().item()) <= 1


def test_2d_standardised_per_feature_with_train_stats() -> None:
    x_train, _, x_test, _ = load_dataset(mlp("moons", n_samples=300, noise=0.2))
    assert torch.allclose(x_train.mean(0), torch.zeros(2), atol=1e-5)
    assert torch.allclose(x_train.std(0, unbiased=False), torch.ones(2), atol=1e-4)
    assert not torch.allclose(x_test.mean(0), torch.zeros(2), atol=1e-5)  # test was not standardised on itself


def test_digits_standardised_globally_with_train_stats() -> None:
    x_train, _, x_test, _ = load_dataset(mlp("digits"))
    assert abs(x_train.mean().item()) < 1e-5 and abs(x_train.std(unbiased=False).item() - 1) < 1e-4
    assert x_train.std(0).min() == 0  # constant pixels stay finite: per-pixel statistics would divide by zero
    # One affine map for both splits: raw pixels 0 and 16 land on the same values in train and test.
    assert x_test.min() == x_train.min() and x_test.max() == x_train.max()
    assert abs(x_test.mean().item()) > 1e-6


def test_results_cannot_be_mutated_into_the_cache() -> None:
    config = mlp("spirals", n_samples=60)
    first = load_dataset(config)
    for t in first:
        t.zero_()
    again = load_dataset(config)
    assert again[0].abs().sum() > 0 and again[1].sum() > 0


# ---- CIFAR-10: a tiny archive written here in the real format ----


def fake_cifar(root: Path) -> tuple[Path, dict[str, tuple[np.ndarray, list[int]]]]:
    """Write cifar-10-batches-py/ with PER_BATCH images per batch, as the official pickles are laid out."""
    rng = np.random.default_rng(0)
    folder = root / "cifar-10-batches-py"
    folder.mkdir(parents=True)
    batches = {}
    for i, name in enumerate([*(f"data_batch_{j}" for j in range(1, 6)), "test_batch"]):
        data = rng.integers(0, 256, (PER_BATCH, 3072), dtype=np.uint8)
        labels = [(k + i) % 10 for k in range(PER_BATCH)]
        if name == "data_batch_2":  # a marker image: black except one known pixel
            c, h, w = PIXEL
            data[3] = 0
            data[3, c * 1024 + h * 32 + w] = 255
        batches[name] = (data, labels)
        content = {b"batch_label": name.encode(), b"labels": labels, b"data": data, b"filenames": [b"x.png"] * PER_BATCH}
        (folder / name).write_bytes(pickle.dumps(content, protocol=2))
    return folder, batches


@pytest.fixture(scope="module")
def cifar(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, tuple[np.ndarray, list[int]]]]:
    return fake_cifar(tmp_path_factory.mktemp("cifar"))


def cifar_config(path: Path, arch: str = "cnn") -> ExperimentConfig:
    return ExperimentConfig(arch=arch, dataset="cifar10", depth=20 if arch == "cnn" else 2, data_path=str(path))


def test_cifar_pixel_layout_round_trips(cifar: tuple[Path, dict]) -> None:
    folder, batches = cifar
    x_train, y_train, x_test, y_test = read_cifar10(str(folder))
    assert x_train.shape == (5 * PER_BATCH, 3, 32, 32) and x_test.shape == (PER_BATCH, 3, 32, 32)
    marker = x_train[PER_BATCH + 3]  # batches kept in order: image 3 of data_batch_2
    assert marker[PIXEL] == 255 and np.argwhere(marker).tolist() == [list(PIXEL)]  # rows are C-major, then H, then W
    assert y_train[PER_BATCH : 2 * PER_BATCH].tolist() == batches["data_batch_2"][1]
    assert np.array_equal(x_test.reshape(PER_BATCH, -1), batches["test_batch"][0])
    assert y_test.dtype == np.int64 and y_test.tolist() == batches["test_batch"][1]


def test_cifar_tar_and_folders_agree_and_are_standardised_per_channel(cifar: tuple[Path, dict], tmp_path: Path) -> None:
    folder, batches = cifar
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(folder, arcname=folder.name)
    loaded = [load_dataset(cifar_config(p)) for p in (archive, folder, folder.parent)]
    for other in loaded[1:]:
        assert all(torch.equal(u, v) for u, v in zip(loaded[0], other, strict=True))
    x_train, y_train, x_test, y_test = loaded[0]
    check_types(x_train, y_train, x_test, y_test)
    assert x_train.shape[1:] == dataset_info(cifar_config(archive)).in_shape == (3, 32, 32)
    # Oracle: per-channel statistics of the raw training pixels, computed here with numpy.
    raw = np.concatenate([batches[f"data_batch_{j}"][0] for j in range(1, 6)]).reshape(-1, 3, 32, 32).astype(np.float64)
    mean, std = raw.mean(axis=(0, 2, 3), keepdims=True), raw.std(axis=(0, 2, 3), keepdims=True)
    assert np.allclose(x_train.numpy(), (raw - mean) / std, atol=1e-5)
    raw_test = batches["test_batch"][0].reshape(-1, 3, 32, 32)
    assert np.allclose(x_test.numpy(), (raw_test - mean) / std, atol=1e-5)
    flat = load_dataset(cifar_config(archive, "mlp"))[0]
    assert flat.shape == (5 * PER_BATCH, 3072) and torch.equal(flat, x_train.flatten(1))


def test_cifar_info_needs_no_data() -> None:
    info = dataset_info(cifar_config(Path("/nowhere/cifar-10-python.tar.gz"), "mlp"))
    assert (info.in_shape, info.n_classes) == ((3072,), 10)


def test_cifar_missing_path_names_it(tmp_path: Path) -> None:
    for path in (tmp_path / "absent.tar.gz", tmp_path):  # nothing there; an empty folder
        with pytest.raises(DatasetNotFoundError, match=r"cifar-10-python\.tar\.gz") as err:
            load_dataset(cifar_config(path))
        assert str(path) in str(err.value)
        assert isinstance(err.value, FileNotFoundError) and isinstance(err.value, ValueError)


def test_cifar_malformed_archives_raise_value_error(cifar: tuple[Path, dict], tmp_path: Path) -> None:
    folder, _ = cifar
    not_tar = tmp_path / "junk.tar.gz"
    not_tar.write_bytes(b"not a tar archive at all")
    with pytest.raises(ValueError, match="not a readable tar archive"):
        read_cifar10(str(not_tar))
    partial = tmp_path / "partial.tar.gz"
    with tarfile.open(partial, "w:gz") as tar:
        tar.add(folder / "data_batch_1", arcname="cifar-10-batches-py/data_batch_1")
    with pytest.raises(ValueError, match=r"lacks data_batch_2.*test_batch"):
        read_cifar10(str(partial))


def test_cifar_bad_pickles_are_refused(cifar: tuple[Path, dict], tmp_path: Path) -> None:
    folder, _ = cifar
    bad = tmp_path / "cifar-10-batches-py"
    bad.mkdir()
    for name in ("data_batch_2", "data_batch_3", "data_batch_4", "data_batch_5", "test_batch"):
        (bad / name).write_bytes((folder / name).read_bytes())
    (bad / "data_batch_1").write_bytes(pickle.dumps({b"data": np.zeros((2, 5), np.uint8), b"labels": [0, 1]}))
    with pytest.raises(ValueError, match=r"data_batch_1.*\(N, 3072\)"):
        read_cifar10(str(bad))
    # A pickle that would run code is refused before anything runs: only numpy array rebuilders are allowed.
    (bad / "data_batch_1").write_bytes(pickle.dumps({b"data": Path("x"), b"labels": []}))
    with pytest.raises(ValueError, match="refusing to load pathlib"):
        read_cifar10(str(bad))


def test_xor_labels_are_the_quadrants_of_the_clean_points() -> None:
    from resnet_core.data import _make_2d

    x, y = _make_2d("xor", 200, 0.0, 3)
    assert np.array_equal(y, (x[:, 0] * x[:, 1] > 0).astype(np.int64)) and abs(x).max() <= 1
    assert np.bincount(y).tolist() == [100, 100]  # drawn balanced, so tiny sets still split stratified


# ---- image_size: the image sets resized (bilinear), the 2-D sets untouched ----


@pytest.mark.parametrize("arch", ["cnn", "mlp"])
def test_digits_resized_keep_their_images_and_split(arch: str) -> None:
    """At 32 pixels each digit is its 8x8 image upsampled: pooling 4x4 cells gives the 8x8 image back (standardised)."""
    depth = 20 if arch == "cnn" else 2
    native, big = (load_dataset(ExperimentConfig(arch=arch, depth=depth, image_size=s)) for s in (0, 32))
    assert big[0].shape[1:] == dataset_info(ExperimentConfig(arch=arch, depth=depth, image_size=32)).in_shape
    assert big[0].shape[1:] == ((1, 32, 32) if arch == "cnn" else (1024,))
    assert torch.equal(native[1], big[1]) and torch.equal(native[3], big[3])  # same split, same labels
    x8, x32 = native[0].reshape(-1, 64), big[0].reshape(-1, 1, 32, 32)
    pooled = torch.nn.functional.avg_pool2d(x32, 4).reshape(-1, 64)
    correlation = torch.corrcoef(torch.stack([x8.flatten(), pooled.flatten()]))[0, 1]
    assert correlation > 0.95  # bilinear upsampling then 4x4 pooling is close to the identity
    assert abs(float(big[0].mean())) < 1e-4 and float(big[0].std()) == pytest.approx(1.0, abs=1e-3)


def test_digits_at_their_own_size_are_the_dataset_as_shipped() -> None:
    """image_size 8 is the digits' own side: the same tensors as the default, and a deterministic resize elsewhere."""
    assert all(
        torch.equal(u, v)
        for u, v in zip(load_dataset(ExperimentConfig()), load_dataset(ExperimentConfig(image_size=8)), strict=True)
    )
    once, again = (load_dataset(ExperimentConfig(image_size=16))[0] for _ in range(2))
    assert torch.equal(once, again) and once.shape[1:] == (1, 16, 16)


def test_cifar_resized_down_is_antialiased_and_stays_uint8_in_the_cache(cifar: tuple[Path, dict]) -> None:
    folder, batches = cifar
    config = cifar_config(folder).replace(image_size=8)
    x_train = load_dataset(config)[0]
    assert x_train.shape == (5 * PER_BATCH, 3, 8, 8) == (5 * PER_BATCH, *dataset_info(config).in_shape)
    raw = np.concatenate([batches[f"data_batch_{j}"][0] for j in range(1, 6)]).reshape(-1, 3, 32, 32).astype(np.float64)
    pooled = raw.reshape(-1, 3, 8, 4, 8, 4).mean(axis=(3, 5))  # antialiased bilinear at 4x is close to 4x4 averaging
    standard = (pooled - pooled.mean(axis=(0, 2, 3), keepdims=True)) / pooled.std(axis=(0, 2, 3), keepdims=True)
    assert np.corrcoef(x_train.numpy().ravel(), standard.ravel())[0, 1] > 0.9
