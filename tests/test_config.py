"""ExperimentConfig: every field validated with a message naming field, value and range; URL round-trip."""

import dataclasses

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_core.config import FIELDS, ExperimentConfig

BAD_VALUES = {
    "arch": "transformer",
    "dataset": "mnist",
    "depth": 1,
    "width": 0,
    "shortcut": "D",
    "l2": -1e-4,
    "norm": "layer",
    "activation": "swish",
    "init": "orthogonal",
    "optimizer": "lbfgs",
    "lr": 0.0,
    "momentum": 1.5,
    "steps": -1,
    "batch_size": 0,
    "seed": -3,
    "measure_every": 0,
    "eval_every": 0,
    "n_samples": 5,
    "noise": -0.1,
    "test_fraction": 0.99,
    "device": "tpu",
}


def test_every_field_has_a_bad_value_case():
    assert set(BAD_VALUES) == set(FIELDS) - {"data_path"}


@pytest.mark.parametrize("name", sorted(BAD_VALUES))
def test_bad_value_names_field_value_and_range(name):
    with pytest.raises(ValueError) as error:
        ExperimentConfig(**{name: BAD_VALUES[name]})
    message = str(error.value)
    assert message.startswith(f"{name}:")
    assert repr(BAD_VALUES[name]) in message
    assert "allowed" in message


@pytest.mark.parametrize(
    "kwargs, field",
    [
        ({"arch": "cnn", "depth": 21}, "depth"),
        ({"arch": "cnn", "dataset": "moons"}, "dataset"),
        ({"arch": "mlp", "dataset": "moons", "depth": 7}, "depth"),
        ({"arch": "mlp", "dataset": "moons", "depth": 1002}, "depth"),
        ({"dataset": "cifar10"}, "data_path"),
        ({"depth": 20.5}, "depth"),
        ({"lr": float("nan")}, "lr"),
        ({"steps": True}, "steps"),
    ],
)
def test_combinations_and_types_rejected(kwargs, field):
    with pytest.raises(ValueError, match=rf"^{field}:"):
        ExperimentConfig(**kwargs)


def test_frozen_and_hashable():
    config = ExperimentConfig()
    with pytest.raises(dataclasses.FrozenInstanceError):
        config.depth = 56
    assert hash(config) == hash(ExperimentConfig())
    assert {config: 1}[ExperimentConfig()] == 1


def test_int_given_for_float_is_accepted_as_float():
    assert ExperimentConfig(l2=0).l2 == 0.0 and isinstance(ExperimentConfig(l2=0).l2, float)


def test_defaults_are_omitted_from_params():
    assert ExperimentConfig().to_params() == {}
    assert ExperimentConfig(depth=56, l2=0.0).to_params() == {"depth": "56", "l2": "0.0"}


def test_from_params_ignores_unknown_keys_and_rejects_bad_text():
    assert ExperimentConfig.from_params({"depth": "56", "utm_source": "x"}).depth == 56
    with pytest.raises(ValueError, match=r"^lr: 'fast' is not a number"):
        ExperimentConfig.from_params({"lr": "fast"})
    with pytest.raises(ValueError, match=r"^depth: '20.5'"):
        ExperimentConfig.from_params({"depth": "20.5"})


configs = st.builds(
    lambda arch, n, l2, lr, seed, shortcut: ExperimentConfig(
        arch=arch, dataset="digits", depth=6 * n + 2 if arch == "cnn" else 2 * n, l2=l2, lr=lr, seed=seed, shortcut=shortcut
    ),
    st.sampled_from(["cnn", "mlp"]),
    st.integers(1, 150),
    st.floats(0, 1, allow_nan=False),
    st.floats(1e-6, 10, allow_nan=False),
    st.integers(0, 2**31 - 1),
    st.sampled_from("ABC"),
)


@settings(max_examples=200, deadline=None)
@given(configs)
def test_params_round_trip_exactly(config):
    params = config.to_params()
    assert all(isinstance(k, str) and isinstance(v, str) for k, v in params.items())
    assert ExperimentConfig.from_params(params) == config
    assert ExperimentConfig.from_params(config.to_params(include_defaults=True)) == config
