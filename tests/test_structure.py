"""The pair stacked straight from the config (resnet_core/structure.py, PairedStack.from_config) is the pair build_pair makes.

Every record and every cached result rests on the initial weights, so the direct route must draw the
same values bit for bit (torch.equal, no tolerance), with the same structure and the same records.
"""

from __future__ import annotations

import pytest
import torch

from resnet_core import ExperimentConfig, build_pair, measure_init, train
from resnet_core.paired import PairedStack
from resnet_core.probes import weight_layers
from resnet_core.specs import VARIANTS
from resnet_core.training import layer_meta

CASES = [
    ExperimentConfig(depth=8, width=4, seed=0),
    ExperimentConfig(depth=20, width=3, seed=7, shortcut="B"),
    ExperimentConfig(depth=14, width=2, seed=123, shortcut="C", norm="none"),
    ExperimentConfig(depth=8, width=4, seed=3, init="zero_residual", shortcut="B"),
    ExperimentConfig(depth=8, width=4, seed=5, init="xavier", padding="circular", activation="tanh"),
    ExperimentConfig(depth=14, width=4, seed=11, block="pre", shortcut="C"),
    ExperimentConfig(depth=8, width=4, seed=2, block="pre", norm="none", init="zero_residual"),
    ExperimentConfig(arch="mlp", dataset="moons", depth=6, width=8, n_samples=200, seed=1),
    ExperimentConfig(arch="mlp", dataset="spirals", depth=10, width=5, n_samples=200, seed=9, shortcut="C", init="zero_residual"),
    ExperimentConfig(arch="mlp", dataset="moons", depth=4, width=8, n_samples=200, seed=4, block="pre", norm="none"),
]


def ids(config: ExperimentConfig) -> str:
    return f"{config.arch}{config.depth}-{config.shortcut}-{config.norm}-{config.init}-{config.block}-s{config.seed}"


@pytest.mark.parametrize("config", CASES, ids=ids)
def test_the_spec_names_every_parameter_of_the_built_nets_in_order(config: ExperimentConfig) -> None:
    pair = PairedStack.from_config(config)
    for v, net in build_pair(config).items():
        assert list(pair.spec.parameters(v)) == [(n, tuple(p.shape)) for n, p in net.named_parameters()]
        expected = [{"name": info.name, "index": info.index, "kind": info.kind} for info, _ in weight_layers(net)]
        assert layer_meta(pair.spec, v) == expected


@pytest.mark.parametrize("config", CASES, ids=ids)
def test_the_direct_pair_holds_the_built_pairs_tensors_bit_for_bit(config: ExperimentConfig) -> None:
    nets = build_pair(config)
    built, direct = PairedStack.of_nets(nets["plain"], nets["residual"]), PairedStack.from_config(config)
    assert torch.equal(built.flat, direct.flat)
    assert built.layout == direct.layout and built.layers == direct.layers
    assert built.segment_sizes == direct.segment_sizes and torch.equal(built.layer_segments, direct.layer_segments)
    built_buffers, direct_buffers = dict(built.named_buffers()), dict(direct.named_buffers())
    assert built_buffers.keys() == direct_buffers.keys() and (bool(built_buffers) or config.norm == "none")
    assert all(torch.equal(built_buffers[k], direct_buffers[k]) for k in built_buffers)
    # write_back hands the direct pair's weights to built nets: equal to the nets build_pair drew
    fresh = build_pair(config.replace(seed=config.seed + 1))
    direct.write_back(fresh)
    for v in VARIANTS:
        expected, got = nets[v].state_dict(), fresh[v].state_dict()
        assert all(torch.equal(expected[k], got[k]) for k in expected)


def test_seeds_and_names_change_the_draws() -> None:
    """The bit-equality above would hold trivially if the draws ignored the seed or the layer's name."""
    config = CASES[1]
    one, other = PairedStack.from_config(config), PairedStack.from_config(config.replace(seed=config.seed + 1))
    assert not torch.equal(one.flat, other.flat)
    layer1, layer2 = one.tensors["blocks.1.layer1.weight"], one.tensors["blocks.1.layer2.weight"]
    assert layer1.shape == layer2.shape and not torch.equal(layer1, layer2)


@pytest.mark.parametrize("config", [CASES[1], CASES[3], CASES[5], CASES[8]], ids=ids)
def test_measure_init_records_equal_the_module_built_pairs(config: ExperimentConfig, monkeypatch: pytest.MonkeyPatch) -> None:
    """measure_init's records (direct route) equal exactly those of the same pair stacked from build_pair's modules."""
    direct = list(measure_init(config))

    def through_modules(
        cls: type[PairedStack],
        config: ExperimentConfig,
        in_shape: tuple[int, ...] | None = None,
        n_classes: int | None = None,
        channels_last: bool = True,
    ) -> PairedStack:
        nets = build_pair(config, in_shape, n_classes)
        return cls.of_nets(nets["plain"], nets["residual"], channels_last)

    monkeypatch.setattr(PairedStack, "from_config", classmethod(through_modules))
    built = list(measure_init(config))
    assert [r["kind"] for r in direct] == ["meta", "meta", "step", "step"]
    assert repr(direct) == repr(built)  # repr: NaN batch errors compare equal, every float to the last bit


def test_training_from_the_stacked_pair_equals_training_the_kept_modules() -> None:
    """The pages' training (lab.jobs.train_run, no modules) and a run that keeps its nets give the same records."""
    config = ExperimentConfig(depth=8, width=4, steps=4, batch_size=16, eval_every=2, measure_every=1)
    direct = list(train(config))
    kept: dict = {}
    through_modules = list(train(config, keep_models=kept))
    assert set(kept) == set(VARIANTS)
    assert repr(direct) == repr(through_modules)
