"""The engine on CUDA: a pair trains on the GPU and measures what the CPU measures (skipped without CUDA).

Per-layer gradient norms of the same weights and the same minibatch must agree within float32
tolerance at initialisation and over the first training steps (before chaotic training lets
rounding differences grow, which is why only a few steps are compared).
"""

from __future__ import annotations

import pytest
import torch

from resnet_core import ExperimentConfig, measure_init, train
from resnet_core.specs import VARIANTS

pytestmark = [pytest.mark.gpu, pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")]

CONFIGS = [
    ExperimentConfig(depth=20, width=8, steps=3, measure_every=1, eval_every=3),
    ExperimentConfig(depth=8, width=4, steps=3, measure_every=1, eval_every=3, shortcut="B"),
    ExperimentConfig(arch="mlp", dataset="spirals", depth=6, width=16, steps=3, measure_every=1, eval_every=3),
]


def steps_by_variant(records: list[dict]) -> dict[str, list[dict]]:
    return {v: [r for r in records if r["kind"] == "step" and r["variant"] == v] for v in VARIANTS}


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.arch}-{c.depth}-{c.shortcut}")
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
