"""Loss-landscape slices against independent computations on tiny nets, and the curvature summaries on known shapes."""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F

from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset
from resnet_core.landscape import filter_normalised_direction, landscape_records, slice_losses
from resnet_core.models import build_model
from resnet_core.specs import VARIANTS, SliceSpec, loss_rise, nonconvex_fraction_1d, nonconvex_fraction_2d
from resnet_core.training import train

TINY = ExperimentConfig(arch="mlp", dataset="moons", depth=4, width=8, steps=5, measure_every=5, eval_every=5, batch_size=32)
TINY_CNN = ExperimentConfig(depth=8, width=4, steps=3, measure_every=3, eval_every=3, batch_size=16)
SPEC = SliceSpec(points_1d=5, points_2d=5, directions=2, samples=64)


@pytest.mark.parametrize("config", [TINY, TINY_CNN], ids=["mlp", "cnn"])
def test_each_filter_of_the_direction_has_the_norm_of_the_weights_filter(config: ExperimentConfig) -> None:
    model = build_model(config, "residual")
    direction = filter_normalised_direction(model, seed=4)
    for name, param in model.named_parameters():
        d = direction[name]
        if param.dim() <= 1:  # biases and BN's scale and shift stay where they are
            assert torch.count_nonzero(d) == 0, name
            continue
        for i in range(param.shape[0]):
            assert float(d[i].norm()) == pytest.approx(float(param[i].detach().norm()), rel=1e-5), (name, i)
        assert not torch.allclose(d, param)  # a random direction, not the weight itself


def independent_loss(model: torch.nn.Module, shifts: dict[str, torch.Tensor], x: torch.Tensor, y: torch.Tensor) -> float:
    """Weights moved by `shifts` in a fresh copy, BN on the batch's statistics (training mode), mean cross-entropy."""
    twin = copy.deepcopy(model).train()
    with torch.no_grad():
        for name, p in twin.named_parameters():
            p.add_(shifts[name])
        return float(F.cross_entropy(twin(x), y))


@pytest.mark.parametrize("config", [TINY, TINY_CNN, TINY_CNN.replace(shortcut="B")], ids=["mlp", "cnn", "cnn-projection"])
def test_slice_values_equal_the_loss_of_each_net_with_its_weights_moved_alone(config: ExperimentConfig) -> None:
    """Both nets are sliced together (one paired forward per point); each value is its own net's loss computed alone."""
    nets = {v: build_model(config, v) for v in VARIANTS}
    x, y, *_ = load_dataset(config)
    x, y = x[:64], y[:64]
    directions = [{v: filter_normalised_direction(nets[v], seed) for v in VARIANTS} for seed in (0, 1)]
    coords = torch.tensor([[0.0, 0.0], [0.5, -0.25], [-1.0, 1.0]])
    losses = slice_losses(nets, x, y, directions, coords)
    for v in VARIANTS:
        d1, d2 = directions[0][v], directions[1][v]
        for (a, b), loss in zip(coords.tolist(), losses[v].tolist(), strict=True):
            shifts = {name: a * d1[name] + b * d2[name] for name in d1}
            assert loss == pytest.approx(independent_loss(nets[v], shifts, x, y), rel=1e-5), (v, a, b)
    for v, net in nets.items():  # the nets themselves are not moved, nor their BN statistics
        fresh = build_model(config, v).state_dict()
        assert all(torch.equal(t, fresh[name]) for name, t in net.state_dict().items()), v


def test_records_slice_around_the_trained_weights_and_alpha_zero_is_the_trained_loss() -> None:
    records = list(landscape_records(TINY, SPEC))
    kinds = [r["kind"] for r in records]
    assert kinds.index("done") < kinds.index("slice1d")  # trained first, then sliced
    for record in (r for r in records if r["kind"] == "slice1d"):
        assert record["alpha"] == pytest.approx([-1.0, -0.5, 0.0, 0.5, 1.0])
        assert len(record["loss"]) == SPEC.directions
        for line in record["loss"]:
            assert line[2] == pytest.approx(record["trained_loss"], rel=1e-6)
    surfaces = {r["variant"]: r for r in records if r["kind"] == "slice2d"}
    lines = {r["variant"]: r for r in records if r["kind"] == "slice1d"}
    assert set(surfaces) == {"plain", "residual"}
    for variant, surface in surfaces.items():
        assert len(surface["loss"]) == 5 and all(len(row) == 5 for row in surface["loss"])
        assert surface["loss"][2][2] == pytest.approx(lines[variant]["trained_loss"], rel=1e-6)
        assert surface["loss"][2] == pytest.approx(lines[variant]["loss"][0], rel=1e-5)  # b = 0 row: the first direction


def test_trained_loss_is_the_trained_nets_own() -> None:
    """The a = 0 value equals the loss of the net train() kept, computed without the slicing code."""
    models: dict = {}
    list(train(TINY, keep_models=models))
    x, y, *_ = load_dataset(TINY)
    records = list(landscape_records(TINY, SPEC))
    for record in (r for r in records if r["kind"] == "slice1d"):
        zero = {name: torch.zeros_like(p) for name, p in models[record["variant"]].named_parameters()}
        assert record["trained_loss"] == pytest.approx(
            independent_loss(models[record["variant"]], zero, x[:64], y[:64]), rel=1e-5
        )


def test_curvature_summaries_on_known_shapes() -> None:
    a = torch.linspace(-1, 1, 21)
    bowl = (a**2).tolist()
    assert loss_rise(bowl) == pytest.approx(1.0)
    assert nonconvex_fraction_1d(bowl) == 0.0
    wiggle = (a**2 + 0.2 * torch.sin(12 * a)).tolist()
    assert 0.2 < nonconvex_fraction_1d(wiggle) < 0.8
    b, c = torch.meshgrid(a, a, indexing="ij")
    assert nonconvex_fraction_2d((b**2 + c**2 + 0.5 * b * c).tolist()) == 0.0
    assert nonconvex_fraction_2d((c**2 - b**2).tolist()) == 1.0  # a saddle everywhere


def test_spec_refuses_an_even_grid_naming_the_field() -> None:
    with pytest.raises(ValueError, match="points_2d"):
        SliceSpec(points_2d=10)
