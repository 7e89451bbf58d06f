"""URL-bound experiment controls: widgets generated from `resnet_core.config.FIELDS`.

Every widget uses `key=<field name>` and `bind="query-params"`, so the URL is the state and a
copied link reproduces the view. Streamlit silently drops a URL value its widget rejects, so
the raw query string is checked first and each bad parameter is named in a warning
(the TensorFlow Playground idea: one table drives widgets, URL and validation).

Usage from a page::

    config = experiment_controls(ExperimentConfig(depth=56), page="gradient_flow")

It renders the three mission controls (depth, shortcut, L2) in the sidebar, the rest in an
expander, and returns a validated `ExperimentConfig` (or shows an error and stops the page).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import streamlit as st

from resnet_core.config import FIELDS, SYNTHETIC_DATASETS, ExperimentConfig, describe_range, format_value, parse_value
from resnet_core.data import DATASET_LABELS
from ui import host

MISSION_FIELDS = ("depth", "shortcut", "l2")
ADVANCED_FIELDS = (
    "arch",
    "dataset",
    "norm",
    "activation",
    "init",
    "optimizer",
    "lr",
    "steps",
    "batch_size",
    "seed",
    "width",
    "measure_every",
    "eval_every",
    "data_path",
)
DEPTH_PRESETS = (8, 20, 32, 56, 110)
L2_STEPS = (0.0, 1e-6, 1e-5, 3e-5, 1e-4, 3e-4, 1e-3, 3e-3, 1e-2, 3e-2, 0.1)
LR_STEPS = (1e-4, 3e-4, 1e-3, 3e-3, 0.01, 0.03, 0.1, 0.3, 1.0)
SHORTCUT_CAPTIONS = {
    "A": "identity; zero-padded where the shape changes (no parameters)",
    "B": "1x1 projection only where the shape changes, identity elsewhere",
    "C": "1x1 projection on every shortcut",
}
LABELS = {
    "depth": "Depth (weight layers)",
    "shortcut": "Shortcut of the residual net",
    "l2": "L2 strength",
    "arch": "Architecture",
    "dataset": "Dataset",
    "norm": "Normalisation",
    "activation": "Activation",
    "init": "Initialisation",
    "optimizer": "Optimiser",
    "lr": "Learning rate",
    "steps": "Training steps",
    "batch_size": "Batch size",
    "seed": "Seed",
    "width": "Width",
    "measure_every": "Measure every k steps",
    "eval_every": "Evaluate every k steps",
    "data_path": "CIFAR-10 path",
}
WARNINGS_KEY = "_query_warnings"
RESETS_KEY = "_widget_resets"


def grid(steps: Sequence[float], default: float) -> list[float]:
    """The slider's values: the fixed log steps plus the page default, so the default is always reachable."""
    return sorted({*steps, default})


def nearest(value: float, options: Sequence[float]) -> float:
    """The option closest on a log scale; values far below the smallest positive step count as 0 when 0 is offered."""
    positive = [o for o in options if o > 0]
    if value <= 0 or (0.0 in options and value < min(positive) / 10):
        return 0.0 if 0.0 in options else min(positive)
    return min(positive, key=lambda o: abs(math.log10(o) - math.log10(value)))


def check_value(name: str, raw: str) -> Any:
    """Parse one raw URL value and check it against its FIELDS row; ValueError names the parameter."""
    value = parse_value(name, raw)
    spec = FIELDS[name]
    if spec.choices is not None and value not in spec.choices:
        raise ValueError(f"{name}: {raw!r} is not recognised; {describe_range(name)}")
    if spec.low is not None and not (math.isfinite(value) and spec.low <= value <= spec.high):
        raise ValueError(f"{name}: {raw!r} is out of range; {describe_range(name)}")
    return value


def validate_query(params: dict[str, str], defaults: ExperimentConfig) -> tuple[dict[str, Any], list[str]]:
    """Typed values of the good URL parameters, and one warning per bad one (which falls back to its default)."""
    values: dict[str, Any] = {}
    problems: list[str] = []
    for name, raw in params.items():
        if name not in FIELDS:
            continue
        try:
            values[name] = check_value(name, raw)
        except ValueError as error:
            problems.append(f"URL parameter {error}. Using the default, {format_value(getattr(defaults, name))}.")
    for _ in range(len(values)):  # drop the parameter each combination error names, until the rest fit
        try:
            defaults.replace(**values)
            break
        except ValueError as error:
            name = str(error).split(":")[0]
            if name not in values:
                problems.append(f"URL parameters don't fit together: {error}.")
                values.clear()
                break
            problems.append(f"URL parameter {error}. Using the default, {format_value(getattr(defaults, name))}.")
            del values[name]
    return values, problems


def widget_value(name: str, value: Any, defaults: ExperimentConfig) -> Any:
    """The value in the form the field's widget holds (depth is text; sliders snap to their grid)."""
    if name == "depth":
        return str(value)
    if name == "l2":
        return nearest(value, grid(L2_STEPS, defaults.l2))
    if name == "lr":
        return nearest(value, grid(LR_STEPS, defaults.lr))
    return value


def _seed_from_query(defaults: ExperimentConfig, page: str, widgets: Sequence[str]) -> bool:
    """First run of a page visit: warn about bad URL values and hand the good ones to the widgets in their own form.

    Returns whether this was that first run.
    """
    flag = f"_query_checked_{page}"
    if st.session_state.get(flag):
        return False
    st.session_state[flag] = True
    values, problems = validate_query(st.query_params.to_dict(), defaults)
    for name, value in values.items():
        if name not in widgets:
            continue
        held = widget_value(name, value, defaults)
        if held != value and name != "depth":
            problems.append(f"URL parameter {name}: {format_value(value)} is not on the slider; using {format_value(held)}.")
        st.session_state[name] = held
    st.session_state[WARNINGS_KEY] = problems
    return True


def _fall_back(name: str, defaults: ExperimentConfig, shown: list[str]) -> None:
    """A URL value its widget accepted but the config rejects: put the default in that widget and rerun.

    On a page's first run Streamlit seeds widgets from the URL over session state, and a widget's
    state can't change once drawn, so the default is applied at the top of the rerun; the
    warnings are carried over to it.
    """
    default = widget_value(name, getattr(defaults, name), defaults)
    st.session_state[RESETS_KEY] = st.session_state.get(RESETS_KEY, {}) | {name: default}
    st.session_state[WARNINGS_KEY] = shown
    st.rerun()


def _apply_resets() -> None:
    for name, value in st.session_state.pop(RESETS_KEY, {}).items():
        st.session_state[name] = value


def _typed_depth() -> list[int]:
    """The depth the widget holds (typed or from the URL) if it is a number, so it shows among the presets."""
    try:
        return [parse_value("depth", st.session_state.get("depth", ""))]
    except ValueError:
        return []


def _on_arch_change() -> None:
    """Keep a switch of architecture valid: the CNN needs an image set and depth 6n+2."""
    if st.session_state.get("arch") != "cnn":
        return
    if st.session_state.get("dataset") in SYNTHETIC_DATASETS:
        st.session_state["dataset"] = "digits"
    for depth in _typed_depth():  # none when the depth box holds text that isn't a number: the error says so later
        if (depth - 2) % 6:
            st.session_state["depth"] = str(max(8, 6 * round((depth - 2) / 6) + 2))


def _widget(name: str, defaults: ExperimentConfig) -> Any:
    """One URL-bound widget for one field, labelled and explained from FIELDS."""
    default, spec = getattr(defaults, name), FIELDS[name]
    common = {"key": name, "bind": "query-params", "help": spec.help}
    if name == "depth":
        presets = [str(d) for d in sorted({*DEPTH_PRESETS, default, *_typed_depth()})]  # a typed depth joins the list
        depth = st.selectbox(
            LABELS[name],
            presets,
            index=presets.index(str(default)),
            accept_new_options=True,
            placeholder="type a depth",
            **common,
        )
        st.caption("Pick one or type your own: cnn 6n+2 (8, 14, 20 … 1202); mlp even, up to 1000.")
        return depth
    if name == "shortcut":
        return st.radio(
            LABELS[name],
            spec.choices,
            index=spec.choices.index(default),
            horizontal=False,
            captions=[SHORTCUT_CAPTIONS[c] for c in spec.choices],
            **common,
        )
    if name in ("l2", "lr"):
        options = grid(L2_STEPS if name == "l2" else LR_STEPS, default)
        return st.select_slider(LABELS[name] + " (log scale)", options, value=default, format_func=format_value, **common)
    if name == "dataset":
        return st.selectbox(
            LABELS[name],
            spec.choices,
            index=spec.choices.index(default),
            help=spec.help + ". " + "; ".join(f"{k}: {v}" for k, v in DATASET_LABELS.items()),
            key=name,
            bind="query-params",
        )
    if spec.choices is not None:
        on_change = _on_arch_change if name == "arch" else None
        return st.selectbox(LABELS[name], spec.choices, index=spec.choices.index(default), on_change=on_change, **common)
    if spec.kind is int:
        return st.number_input(LABELS[name], min_value=int(spec.low), max_value=int(spec.high), value=default, step=1, **common)
    return st.text_input(LABELS[name], value=default, **common)


def experiment_controls(
    defaults: ExperimentConfig, page: str, *, mission: Sequence[str] = MISSION_FIELDS, advanced: Sequence[str] = ADVANCED_FIELDS
) -> ExperimentConfig:
    """Sidebar widgets for `mission` (always visible) and `advanced` (in an expander) -> a validated config.

    Fields in neither list keep their URL value (checked) or the page default. An invalid
    combination shows an error naming the field and stops the page: never a traceback.
    """
    _apply_resets()
    first_run = _seed_from_query(defaults, page, (*mission, *advanced))
    shown = st.session_state.pop(WARNINGS_KEY, [])
    for problem in shown:
        st.warning(problem, icon=":material/warning:")
    values: dict[str, Any] = {}
    with st.sidebar:
        for name in mission:
            values[name] = _widget(name, defaults)
        with st.expander("More settings: architecture, data, optimiser"):
            for name in advanced:
                if name == "data_path" and (values.get("dataset", defaults.dataset) != "cifar10" or host.limits().hosted):
                    continue
                values[name] = _widget(name, defaults)
    passthrough, _ = validate_query({k: v for k, v in st.query_params.to_dict().items() if k not in values}, defaults)
    try:
        values["depth"] = parse_value("depth", values.get("depth", defaults.depth))
        return host.guard(defaults.replace(**host.host_fields(passthrough | values)))
    except ValueError as error:
        name = str(error).split(":")[0]
        if first_run and name in values and name in st.query_params:
            _fall_back(name, defaults, shown)
        st.error(f"These settings can't run: {error}. Change the setting in the sidebar.", icon=":material/block:")
        st.stop()
        raise  # st.stop() raises; this line only tells type checkers the function never falls through
