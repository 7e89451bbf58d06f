"""ExperimentConfig: every field validated with a message naming field, value and range; URL round-trip; fuzzed parsing."""

import dataclasses
import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resnet_core.config import FIELDS, SHORTCUT_OPTIONS, ConfigError, ExperimentConfig, parse_value

BAD_VALUES = {
    "arch": "transformer",
    "dataset": "mnist",
    "depth": 1,
    "width": 0,
    "shortcut": "D",
    "block": "middle",
    "padding": "reflect",
    "image_size": 65,
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
    "lr_drops": "32k",
    "augment": "cutout",
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
        ({"arch": "mlp", "dataset": "moons", "image_size": 16}, "image_size"),
        ({"image_size": 2}, "image_size"),
        ({"depth": 20.5}, "depth"),
        ({"lr": float("nan")}, "lr"),
        ({"steps": True}, "steps"),
    ],
)
def test_combinations_and_types_rejected(kwargs, field):
    with pytest.raises(ConfigError, match=rf"^{field}:") as error:
        ExperimentConfig(**kwargs)
    assert error.value.field == field  # callers read the field, never parse it out of the message


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


@pytest.mark.parametrize(
    "name, raw, problem",
    [
        ("seed", "inf", "is not finite"),
        ("steps", "1e999", "is not finite"),
        ("width", "-inf", "is not finite"),
        ("lr", "nan", "is not finite"),
        ("batch_size", "9" * 400, "is not finite"),  # float() makes 400 digits inf; int() of it would raise OverflowError
        ("width", "9.7", "is not a whole number"),
        ("width", "513", "is out of range"),
        ("shortcut", "[x](https://evil.example)", "is not recognised"),
    ],
)
def test_parse_value_refuses_hostile_text_with_the_field_and_the_raw_value(name, raw, problem):
    with pytest.raises(ConfigError) as error:
        parse_value(name, raw)
    assert (error.value.field, error.value.value) == (name, raw)
    assert error.value.problem.startswith(problem) and "allowed" in error.value.problem
    assert isinstance(error.value, ValueError)  # `except ValueError` callers keep working


def test_ranges_read_as_whole_numbers():
    with pytest.raises(ConfigError, match=r"allowed: 0 to 2147483647$"):
        parse_value("seed", "-1")


def test_fields_own_labels_and_slider_grids():
    assert all(spec.label for spec in FIELDS.values())
    assert FIELDS["l2"].steps[0] == 0.0 and FIELDS["lr"].steps and FIELDS["depth"].steps is None
    assert [name for name, spec in FIELDS.items() if not spec.in_url] == ["data_path"]


HOSTILE_TEXT = st.sampled_from(
    [
        "",
        " ",
        "\t\n",
        "inf",
        "-inf",
        "nan",
        "NaN",
        "1e999",
        "-1e999",
        "1e308",
        "9" * 400,
        "-" + "9" * 400,
        "0x10",
        "1_000",
        "٣",
        "１２",
        "9.7",
        "-0",
        "1e-320",
        "[Click here](https://evil.example/login)",
        "![x](https://evil.example/pixel.png)",
        "<script>alert(1)</script>",
        "`` ` ``",
        ":red[alert]",
        "$\\frac{1}{0}$",
        "\u202egnp.exe",
        "A" * 4000,
    ]
)
VALUES = st.one_of(
    HOSTILE_TEXT,
    st.text(max_size=60),
    st.integers(-(10**20), 10**20).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.sampled_from([c for spec in FIELDS.values() for c in spec.choices or ()]),
)
KEYS = st.one_of(st.sampled_from(sorted(FIELDS)), st.text(max_size=12))


@settings(max_examples=1500, deadline=None)
@given(st.dictionaries(KEYS, VALUES, max_size=8))
def test_from_params_returns_a_valid_config_or_a_config_error(params):
    """Hostile URL dicts: the only failure allowed is ConfigError naming a known field, never OverflowError & co."""
    try:
        config = ExperimentConfig.from_params(params)
    except ConfigError as error:
        assert error.field in FIELDS
        return
    for name, spec in FIELDS.items():
        value = getattr(config, name)
        assert isinstance(value, spec.kind) and not isinstance(value, bool)
        if spec.choices is not None:
            assert value in spec.choices
        if spec.low is not None:
            assert math.isfinite(value) and spec.low <= value <= spec.high
    assert ExperimentConfig.from_params(config.to_params()) == config


@pytest.mark.parametrize("dataset, own", [("digits", 8), ("cifar10", 32)])
def test_an_image_size_equal_to_the_datasets_own_side_is_the_native_size(dataset: str, own: int) -> None:
    """image_size 8 on digits is the same net as 0: one config, one cache key, one share link."""
    native = ExperimentConfig(dataset=dataset, data_path="x")
    assert ExperimentConfig(dataset=dataset, data_path="x", image_size=own) == native
    assert "image_size" not in native.replace(image_size=own).to_params()
    assert ExperimentConfig(dataset=dataset, data_path="x", image_size=16).image_size == 16


def test_a_too_small_image_size_is_refused_for_its_real_reason() -> None:
    """Ceil halving leaves a map at any side >= 1; what 2 or 3 px lose is a 3x3 kernel smaller than the image."""
    with pytest.raises(ConfigError, match="3x3 kernel") as error:
        ExperimentConfig(image_size=3)
    assert error.value.field == "image_size"
    assert ExperimentConfig(image_size=4).image_size == 4


def test_the_shortcut_help_is_the_options_one_wording() -> None:
    """The CLI's --help and the widget's help say what the pages' captions say, from one table."""
    assert all(f"{option}: {text}" in FIELDS["shortcut"].help for option, text in SHORTCUT_OPTIONS.items())


def test_the_nearest_cnn_depth_is_the_one_the_config_accepts() -> None:
    """The arch switch snaps a typed depth with it (ui.controls), so the rule and the check can never disagree."""
    from resnet_core.config import MAX_CNN_DEPTH, nearest_cnn_depth

    assert [nearest_cnn_depth(d) for d in (0, 9, 55, 57, 100, 5000)] == [8, 8, 56, 56, 98, MAX_CNN_DEPTH]
    for depth in range(0, MAX_CNN_DEPTH + 50, 7):
        ExperimentConfig(depth=nearest_cnn_depth(depth))  # valid, whatever was typed
