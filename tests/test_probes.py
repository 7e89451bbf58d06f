"""Instrumentation checked against plain autograd on the same weights (tests/oracle.py)."""

import math

import pytest
import torch

from resnet_core import ExperimentConfig, build_model, gradient_norms, load_dataset
from resnet_core.probes import measure, weight_layers
from tests.oracle import reference_measurement

CASES = [
    ExperimentConfig(depth=14, width=4),
    ExperimentConfig(depth=14, width=4, shortcut="B"),
    ExperimentConfig(depth=14, width=4, shortcut="C", activation="tanh"),
    ExperimentConfig(depth=8, width=4, norm="none", init="xavier", activation="sigmoid"),
    ExperimentConfig(depth=14, width=4, shortcut="B", norm="none", padding="circular"),
    ExperimentConfig(arch="mlp", dataset="spirals", depth=6, width=8, activation="gelu"),
    ExperimentConfig(arch="mlp", dataset="digits", depth=4, width=8, shortcut="C", norm="none"),
    ExperimentConfig(depth=14, width=4, block="pre"),
    ExperimentConfig(depth=14, width=4, block="pre", shortcut="B", activation="tanh"),
    ExperimentConfig(arch="mlp", dataset="spirals", depth=6, width=8, block="pre", norm="none", activation="sigmoid"),
]


def batch(config: ExperimentConfig, n: int = 32):
    x, y, _, _ = load_dataset(config)
    return x[:n], y[:n]


@pytest.mark.parametrize(
    "config", CASES, ids=lambda c: f"{c.arch}-{c.depth}-{c.block}-{c.shortcut}-{c.norm}-{c.activation}-{c.padding}"
)
@pytest.mark.parametrize("variant", ["plain", "residual"])
def test_measurements_match_independent_autograd(config, variant):
    x, y = batch(config)
    model = build_model(config, variant)
    expected = reference_measurement(model, config, x, y)
    norms = gradient_norms(model, x, y)
    assert list(norms) == expected["names"]
    assert torch.allclose(torch.tensor(list(norms.values())), torch.tensor(expected["grad_norm"]), rtol=1e-4, atol=1e-9)
    loss, m = measure(model, x, y)
    assert math.isclose(loss.item(), expected["loss"][0], rel_tol=1e-5)
    for row, metric in zip(m.blocks, ("act_grad_norm", "act_std", "branch_ratio", "out_ms"), strict=True):
        assert torch.allclose(row, torch.tensor(expected[metric]), rtol=1e-4, atol=1e-9, equal_nan=True), metric


def test_measuring_leaves_gradients_and_outputs_untouched():
    config = CASES[0]
    x, y = batch(config)
    model = build_model(config, "residual")
    model.eval()  # fixed BN statistics so two forwards are comparable
    before = model(x)
    measure(model, x, y)
    assert all(p.grad is None for p in model.parameters())
    assert torch.equal(model(x), before)
    assert all(b.recorder is None for b in model.block_list())


def test_layers_are_ordered_input_to_output_with_projections_at_their_block():
    model = build_model(ExperimentConfig(depth=14, width=4, shortcut="B"), "residual")
    layers = [info for info, _ in weight_layers(model)]
    main = [info for info in layers if info.kind == "main"]
    assert [info.index for info in main] == list(range(1, 15))
    assert main[0].name == "stem.layer.weight" and main[-1].name == "fc.weight"
    shortcuts = [info for info in layers if info.kind == "shortcut"]
    assert [info.name for info in shortcuts] == ["blocks.2.shortcut.projection.weight", "blocks.4.shortcut.projection.weight"]
    by_name = {info.name: info.index for info in main}
    assert [info.index for info in shortcuts] == [by_name["blocks.2.layer2.weight"], by_name["blocks.4.layer2.weight"]]


def test_no_host_sync_per_layer(monkeypatch):
    """All statistics of a measured step reach the host in one copy, not one .item() per layer."""
    config = CASES[0]
    x, y = batch(config)
    model = build_model(config, "residual")
    calls = []
    original = torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "item", lambda self: calls.append(1) or original(self))
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: calls.append(1) or torch.Tensor.numpy(self).tolist())
    gradient_norms(model, x, y)
    assert len(calls) == 1
