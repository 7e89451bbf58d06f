"""The engine on CUDA: a pair trains on the GPU and measures what the CPU measures (skipped without CUDA).

Per-layer gradient norms of the same weights and the same minibatch must agree within float32
tolerance at initialisation and over the first training steps (before chaotic training lets
rounding differences grow, which is why only a few steps are compared).
"""

from __future__ import annotations

import copy
import math

import pytest
import torch

from resnet_core import ExperimentConfig, build_pair, load_dataset, measure_init, train
from resnet_core.landscape import filter_normalised_direction, landscape_records, slice_losses
from resnet_core.lesion import after_training, lesion_study
from resnet_core.paths import path_gradients, path_study
from resnet_core.shattered import shattered_records
from resnet_core.specs import VARIANTS, ShatterSpec, SliceSpec

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CONFIGS = [
    ExperimentConfig(depth=20, width=8, steps=3, measure_every=1, eval_every=3),
    ExperimentConfig(depth=8, width=4, steps=3, measure_every=1, eval_every=3, shortcut="B"),
    ExperimentConfig(arch="mlp", dataset="spirals", depth=6, width=16, steps=3, measure_every=1, eval_every=3),
    ExperimentConfig(depth=8, width=4, steps=3, measure_every=1, eval_every=3, block="pre"),
]


def steps_by_variant(records: list[dict]) -> dict[str, list[dict]]:
    return {v: [r for r in records if r["kind"] == "step" and r["variant"] == v] for v in VARIANTS}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.arch}-{c.depth}-{c.shortcut}-{c.block}")
def test_pair_trains_on_gpu_with_the_cpu_gradient_norms(config: ExperimentConfig) -> None:
    torch.backends.cudnn.allow_tf32 = False  # TF32 convolutions would be a 1e-3 approximation, not float32
    torch.backends.cuda.matmul.allow_tf32 = False
    gpu_records = list(train(config.replace(device="cuda")))
    cpu_records = list(train(config.replace(device="cpu")))
    assert {r["device"] for r in gpu_records if r["kind"] == "meta"} == {"cuda"}
    gpu, cpu = steps_by_variant(gpu_records), steps_by_variant(cpu_records)
    for v in VARIANTS:
        assert len(gpu[v]) == len(cpu[v]) == config.steps
        for g, c in zip(gpu[v], cpu[v], strict=True):
            assert g["loss"] == pytest.approx(c["loss"], rel=1e-4)
            assert g["grad_norm"] == pytest.approx(c["grad_norm"], rel=1e-3, abs=1e-7), (v, g["step"])
            assert g["weight_norm"] == pytest.approx(c["weight_norm"], rel=1e-4), (v, g["step"])


def test_gradient_norms_at_init_match_on_gpu() -> None:
    config = ExperimentConfig(depth=56, width=8)
    torch.backends.cudnn.allow_tf32 = False
    gpu = steps_by_variant(list(measure_init(config.replace(device="cuda"))))
    cpu = steps_by_variant(list(measure_init(config.replace(device="cpu"))))
    for v in VARIANTS:
        assert gpu[v][0]["grad_norm"] == pytest.approx(cpu[v][0]["grad_norm"], rel=1e-3)
        assert gpu[v][0]["act_grad_norm"] == pytest.approx(cpu[v][0]["act_grad_norm"], rel=1e-3)


# Issue 12's measurements on CUDA: each engine function gives the CPU's numbers for the same weights and inputs.
TINY_CNN = ExperimentConfig(depth=8, width=4, steps=3, measure_every=3, eval_every=3, batch_size=16)


def on(device: str, nets: dict[str, torch.nn.Module]) -> dict[str, torch.nn.Module]:
    return {v: copy.deepcopy(net).to(device) for v, net in nets.items()}


def test_shattered_gradients_on_gpu_match_the_cpu() -> None:
    torch.backends.cuda.matmul.allow_tf32 = False
    spec = ShatterSpec(depth=8, width=32, points=64, seeds=2, max_lag=4)
    gpu, cpu = list(shattered_records(spec, "cuda")), list(shattered_records(spec, "cpu"))
    assert gpu[0]["device"] == "cuda"
    for g, c in zip(gpu[1:], cpu[1:], strict=True):
        assert g["gradient"] == pytest.approx(c["gradient"], rel=1e-3, abs=1e-4), (g["variant"], g["seed"])
        assert g["acf"] == pytest.approx(c["acf"], abs=1e-4)


@pytest.mark.parametrize("block", ["post", "pre"])
def test_lesions_and_paths_on_gpu_match_the_cpu(block: str) -> None:
    torch.backends.cudnn.allow_tf32 = False
    config = TINY_CNN.replace(block=block)
    nets = build_pair(config)
    data = tuple(load_dataset(config))
    cpu = list(lesion_study(on("cpu", nets), data, config, draws=1))
    gpu = list(lesion_study(on("cuda", nets), tuple(t.to("cuda") for t in data), config, draws=1))
    assert [r["deleted"] for r in gpu] == [r["deleted"] for r in cpu]
    tolerance = 2 / len(data[3])  # a borderline test sample may flip with float32 rounding
    for g, c in zip(gpu, cpu, strict=True):
        assert g["test_error"] == pytest.approx(c["test_error"], abs=tolerance), (g["variant"], g["deleted"])
    x, y = data[0][:32], data[1][:32]
    cpu_paths = list(path_gradients(on("cpu", nets)["residual"], x, y, draws=2, seed=0))
    gpu_paths = list(path_gradients(on("cuda", nets)["residual"], x.cuda(), y.cuda(), draws=2, seed=0))
    for g, c in zip(gpu_paths, cpu_paths, strict=True):
        assert g["grad_mean"] == pytest.approx(c["grad_mean"], rel=1e-3), g["k"]


def test_loss_slices_on_gpu_match_the_cpu() -> None:
    torch.backends.cudnn.allow_tf32 = False
    nets = build_pair(TINY_CNN)
    x, y, *_ = load_dataset(TINY_CNN)
    x, y = x[:64], y[:64]
    coords = torch.tensor([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
    results = {}
    for device in ("cpu", "cuda"):
        moved = on(device, nets)
        directions = [{v: filter_normalised_direction(moved[v], seed) for v in VARIANTS} for seed in (0, 1)]
        results[device] = slice_losses(moved, x.to(device), y.to(device), directions, coords)
    for v in VARIANTS:
        assert results["cuda"][v].tolist() == pytest.approx(results["cpu"][v].tolist(), rel=1e-4), v


def test_lesion_and_landscape_jobs_train_and_measure_on_gpu() -> None:
    """End to end, as the CLI and the workers run them: train on CUDA, then measure the trained pair there."""
    config = TINY_CNN.replace(device="cuda")
    records = list(after_training(config, lesion_study, path_study))
    assert {r["device"] for r in records if r["kind"] == "meta"} == {"cuda"}
    assert all(0 <= r["test_error"] <= 1 for r in records if r["kind"] == "lesion")
    assert any(r["kind"] == "paths" for r in records)
    slices = [
        r
        for r in landscape_records(config, SliceSpec(points_1d=5, points_2d=5, directions=2, samples=64))
        if "slice" in r["kind"]
    ]
    assert len(slices) == 4 and all(math.isfinite(v) for r in slices for row in r["loss"] for v in row)
