"""The host's cost model (serving.cost.estimate_cost) against what torch counts on the real engine."""

from __future__ import annotations

import math

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode, conv_backward_flop

from lab.lessons import LESSONS
from resnet_core.config import ExperimentConfig
from resnet_core.data import load_dataset, split_sizes
from resnet_core.training import measure_init, train
from serving.cost import _duration, _layers, estimate_cost, estimate_text

CONFIGS = [
    ExperimentConfig(depth=14, width=8, batch_size=32, steps=2, eval_every=2),
    ExperimentConfig(depth=8, width=16, batch_size=16, steps=2, shortcut="B", test_fraction=0.5),
    ExperimentConfig(depth=8, width=4, batch_size=16, steps=2, shortcut="C", activation="gelu", norm="none"),
    ExperimentConfig(arch="mlp", dataset="moons", depth=10, width=16, batch_size=32, steps=3, shortcut="C", n_samples=300),
    ExperimentConfig(arch="mlp", dataset="digits", depth=4, width=32, batch_size=4096, steps=2, eval_every=1),
    ExperimentConfig(depth=8, width=4, batch_size=16, steps=1, norm="none", padding="circular", image_size=16),
    ExperimentConfig(arch="mlp", dataset="digits", depth=2, width=8, batch_size=64, steps=1, image_size=12),
]


def grouped_conv_backward_flop(
    grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups, mask, out_shape, **kw
):
    """torch's formula, but the weight gradient of a grouped conv costs what its forward does (torch 2.13 ignores groups)."""
    flops = conv_backward_flop(
        grad_out, x, w, bias, stride, padding, dilation, transposed, out_pad, groups, [mask[0], False], out_val=out_shape
    )
    return flops + (2 * math.prod(w) * grad_out[0] * math.prod(grad_out[2:]) if mask[1] else 0)


@pytest.mark.parametrize("config", CONFIGS, ids=lambda c: f"{c.arch}-{c.depth}-{c.shortcut}")
def test_flops_match_flop_counter_on_the_real_engine(config: ExperimentConfig) -> None:
    """The init view plus a short training (steps, evaluations, measurements), counted as torch counts convs and matmuls."""
    with FlopCounterMode(
        display=False, custom_mapping={torch.ops.aten.convolution_backward: grouped_conv_backward_flop}
    ) as counter:
        list(measure_init(config))
        list(train(config))
    assert estimate_cost(config).flops == pytest.approx(counter.get_total_flops(), rel=0.01)


def test_estimate_is_closed_form_whatever_the_depth() -> None:
    """It runs on every page load: a stage's repeated layers are one entry, so depth 1202 lists no more than depth 14."""
    for arch, shallow, deep in (("cnn", 14, 1202), ("mlp", 2, 1000)):
        for shortcut in ("A", "B", "C"):
            small = _layers(ExperimentConfig(arch=arch, depth=shallow, shortcut=shortcut))
            large = _layers(ExperimentConfig(arch=arch, depth=deep, shortcut=shortcut))
            assert [len(part) for part in large] == [len(part) for part in small]


@pytest.mark.parametrize(
    "config",
    [
        ExperimentConfig(),
        ExperimentConfig(test_fraction=0.9),
        ExperimentConfig(arch="mlp", dataset="gaussians", depth=2, n_samples=20),
        ExperimentConfig(arch="mlp", dataset="moons", depth=2, n_samples=1001, test_fraction=0.33),
    ],
)
def test_split_sizes_are_what_load_dataset_returns(config: ExperimentConfig) -> None:
    x_train, _, x_test, _ = load_dataset(config)
    assert split_sizes(config) == (len(x_train), len(x_test))


def test_estimate_text_shares_the_total_over_the_workers_but_never_below_the_longest_job() -> None:
    short, long = ExperimentConfig(depth=8, steps=10), ExperimentConfig(depth=56, steps=100)
    s, t = estimate_cost(short).seconds, estimate_cost(long).seconds
    assert estimate_text([], 2) == ""
    one = estimate_text([[long]], 2)
    assert one.startswith(f"Cost model: about {_duration(t)} of one CPU core")
    both = estimate_text([[short], [long]], 2)  # two at once: the long job alone sets the wall time
    assert f"about {_duration(max(t, (s + t) / 2))} with 2 running at once ({_duration(s + t)} of one CPU core" in both
    serial = estimate_text([[short], [long]], 1)  # one worker: one after the other
    assert serial.startswith(f"Cost model: about {_duration(s + t)} of one CPU core")
    pairs = estimate_text([[short, long]], 4)  # one job training two pairs runs them one after the other
    assert pairs == serial


# The reference machine's times (CPU s at one thread; `python -m benchmarks.cost_model --first-views`, best of 2 after a
# warm-up, 2026-11-23 at load 2.4, and benchmarks/mlp_path.py for the lesson's training at load 1.3-2.0; both in
# benchmarks/RESULTS.md, "fifth stop: cost model"). One per-layer cost for dense and conv layers priced the thin MLPs'
# first views 8-25x high and the 1000-layer lesson 4.6x.
REFERENCE_TIMES = [
    (ExperimentConfig(depth=56), False, 0.07),
    (ExperimentConfig(depth=1202), False, 1.77),
    (ExperimentConfig(depth=56, width=64, batch_size=1024), False, 21.36),
    (ExperimentConfig(arch="mlp", dataset="moons", depth=1000, norm="none"), False, 0.13),
    (ExperimentConfig(arch="mlp", dataset="moons", depth=100), False, 0.04),
    (ExperimentConfig.from_params(dict(next(x for x in LESSONS if x.name == "thousand-layers").params)), True, 4.8),
]


@pytest.mark.parametrize(
    ("config", "train", "seconds"), REFERENCE_TIMES, ids=["cnn-56", "cnn-1202", "cnn-56-wide", "mlp-1000", "mlp-100", "lesson"]
)
def test_estimated_time_is_within_2x_of_the_reference_machines(config: ExperimentConfig, train: bool, seconds: float) -> None:
    """Thin and thick nets, first views and a training: the per-layer costs, not only the FLOPs, follow the engine."""
    assert 0.5 <= estimate_cost(config, train=train).seconds / seconds <= 2
