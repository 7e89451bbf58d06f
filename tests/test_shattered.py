"""Shattered gradients: the gradient and its autocorrelation against independent computations on tiny cases."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

from resnet_core.shattered import (
    autocorrelation,
    fix_batch_statistics,
    grid,
    input_gradient,
    scalar_net,
    shattered_records,
)
from resnet_core.specs import ShatterSpec

SMALL = ShatterSpec(depth=6, width=16, points=64, seeds=2, max_lag=5)


def test_the_gradient_of_a_linear_map_is_constant_and_its_autocorrelation_is_one() -> None:
    linear = nn.Linear(1, 1)
    with torch.no_grad():
        linear.weight.fill_(-0.7)
    g = input_gradient(linear, grid(64))
    assert torch.allclose(g, torch.full((64,), -0.7))
    assert torch.allclose(autocorrelation(g.double(), 10), torch.ones(11, dtype=torch.float64))


def test_autocorrelation_matches_numpy_and_tells_white_from_brown_noise() -> None:
    rng = np.random.default_rng(0)
    white = rng.standard_normal(4096)
    brown = np.cumsum(white)
    for series in (white, brown):
        mine = autocorrelation(torch.tensor(series), 3).numpy()
        for k in (1, 2, 3):
            a, b = series[:-k], series[k:]
            assert mine[k] == pytest.approx(a @ b / np.sqrt((a @ a) * (b @ b)), rel=1e-12)
    assert abs(autocorrelation(torch.tensor(white), 1)[1]) < 0.1
    assert autocorrelation(torch.tensor(brown), 1)[1] > 0.95


def test_fixed_batch_statistics_reproduce_the_training_mode_forward() -> None:
    """The grid is one minibatch, as in the paper: freezing its statistics changes no output value."""
    net, x = scalar_net(SMALL, "residual", seed=3), grid(64)
    net.train()
    with torch.no_grad():
        reference = net(x)
    fix_batch_statistics(net, x)
    with torch.no_grad():
        assert torch.allclose(net(x), reference, atol=1e-5)


@pytest.mark.parametrize("skip", ["block", "layer"])
@pytest.mark.parametrize("norm", ["batch", "none"])
@pytest.mark.parametrize("variant", ["plain", "residual"])
def test_batched_gradient_equals_central_differences_point_by_point(norm: str, variant: str, skip: str) -> None:
    spec = ShatterSpec(depth=4, width=8, points=32, norm=norm, seeds=1, max_lag=3, skip=skip)
    net, x = scalar_net(spec, variant, seed=1), grid(32)
    g = input_gradient(net, x).double()
    net = net.double()  # statistics stay the float grid's: eval mode from here on
    h = 1e-6
    with torch.no_grad():
        xd = x.double()
        numeric = (net(xd + h) - net(xd - h))[:, 0] / (2 * h)
    assert torch.allclose(g, numeric, rtol=1e-3, atol=1e-5)


def test_random_biases_follow_bias_std_and_are_shared_by_the_pair() -> None:
    plain, residual = scalar_net(ShatterSpec(), "plain", 0), scalar_net(ShatterSpec(), "residual", 0)
    shifts = torch.cat([m.bias for m in plain.modules() if isinstance(m, nn.BatchNorm1d)]).detach()
    assert 0.08 < float(shifts.std()) < 0.12  # 25 x 200 draws at std 0.1
    for (name, p), (_, q) in zip(plain.named_parameters(), residual.named_parameters(), strict=True):
        assert torch.equal(p, q), name


def test_records_hold_each_seeds_curve_and_autocorrelation() -> None:
    records = list(shattered_records(SMALL))
    assert records[0]["kind"] == "meta" and len(records[0]["x"]) == 64
    curves = [r for r in records if r["kind"] == "gradient"]
    assert [(r["variant"], r["seed"]) for r in curves] == [("plain", 0), ("residual", 0), ("plain", 1), ("residual", 1)]
    assert all(len(r["gradient"]) == 64 and len(r["acf"]) == 6 and r["acf"][0] == 1.0 for r in curves)


def test_deep_plain_bn_gradients_shatter_and_residual_ones_less() -> None:
    """The paper's claim at its setting (width 200, 24 layers, BN, biases std 0.1), over three seeds."""
    lag1 = {"plain": [], "residual": []}
    for record in shattered_records(ShatterSpec(seeds=3, max_lag=1)):
        if record["kind"] == "gradient":
            lag1[record["variant"]].append(record["acf"][1])
    assert max(abs(v) for v in lag1["plain"]) < 0.25  # white noise
    assert min(lag1["residual"]) > max(lag1["plain"])


def test_skip_every_layer_is_the_papers_module_over_the_plain_nets_own_layers() -> None:
    """a <- a + W g(BN(a)) around each layer, computed by hand from the plain net's modules; the plain net is unchanged."""
    spec = ShatterSpec(depth=4, width=8, points=32, seeds=1, max_lag=3, skip="layer")
    plain, residual, x = scalar_net(spec, "plain", 2), scalar_net(spec, "residual", 2), grid(32)
    same = scalar_net(dataclasses.replace(spec, skip="block"), "plain", 2)
    assert all(torch.equal(p, q) for p, q in zip(plain.parameters(), same.parameters(), strict=True))
    residual.train()
    with torch.no_grad():
        a = plain.stem(x)
        for block in plain.block_list():
            for norm, layer in ((block.norm1, block.layer1), (block.norm2, block.layer2)):
                z = (a - a.mean(0)) / torch.sqrt(a.var(0, unbiased=False) + norm.eps) * norm.weight + norm.bias
                a = a + layer(torch.relu(z))
        assert torch.allclose(residual(x), plain.fc(a), atol=1e-5)


def test_a_shortcut_around_every_layer_keeps_the_gradient_near_the_papers_figure() -> None:
    """Balduzzi et al.'s setting (width 200, 24 layers, BN, biases std 0.1) with their module, seeds 0-4 (not chosen):
    the residual lag-1 autocorrelation is in the paper's ballpark (about 0.93) and above the two-layer blocks' on every seed."""
    lag1 = {}
    for skip in ("block", "layer"):
        for record in shattered_records(ShatterSpec(seeds=5, max_lag=1, skip=skip)):
            if record["kind"] == "gradient":
                lag1.setdefault((skip, record["variant"]), []).append(record["acf"][1])
    assert lag1[("layer", "plain")] == lag1[("block", "plain")]  # the plain net is the same net
    assert 0.7 < np.mean(lag1[("layer", "residual")]) < 1.0
    assert all(layer > block for layer, block in zip(lag1[("layer", "residual")], lag1[("block", "residual")], strict=True))


def test_spec_refuses_bad_values_naming_the_field() -> None:
    with pytest.raises(ValueError, match="depth"):
        ShatterSpec(depth=5)
    with pytest.raises(ValueError, match="max_lag"):
        ShatterSpec(points=32, max_lag=16)
    with pytest.raises(ValueError, match="skip"):
        ShatterSpec(skip="branch")


def test_the_shortcut_count_follows_where_the_shortcuts_sit() -> None:
    assert ShatterSpec(depth=24).shortcuts == 12 and ShatterSpec(depth=24, skip="layer").shortcuts == 24
