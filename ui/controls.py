"""URL-bound experiment controls: widgets generated from `resnet_core.config.FIELDS`.

Every widget uses `key=<field name>` and `bind="query-params"`, so the URL is the state and a
copied link reproduces the view; ui.url.check_url has cleaned that URL before the first widget
(the TensorFlow Playground idea: one table drives widgets, URL and validation).

Usage from a page::

    config = experiment_controls(ExperimentConfig(depth=56), page="gradient-flow")

It renders the three mission controls (depth, shortcut, L2) in the sidebar, the rest in an
expander, and returns a validated `ExperimentConfig` (or shows an error and stops the page).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from resnet_core.config import (
    FIELDS,
    SHORTCUT_OPTIONS,
    SYNTHETIC_DATASETS,
    ConfigError,
    ExperimentConfig,
    format_value,
    nearest_cnn_depth,
    parse_value,
)
from resnet_core.data import DATASET_LABELS
from ui import host
from ui.echo import describe
from ui.url import check_url, grid, url_values

MISSION_FIELDS = ("depth", "shortcut", "l2")
ADVANCED_FIELDS = (
    "arch",
    "dataset",
    "block",
    "norm",
    "padding",
    "image_size",
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
)
DEPTH_PRESETS = (8, 20, 32, 56, 110)


def _typed_depth() -> list[int]:
    """The depth the widget holds (typed, or from the URL on the first run) if valid, so it shows among the presets."""
    try:
        return [parse_value("depth", st.session_state.get("depth", st.query_params.get("depth", "")))]
    except ConfigError:
        return []


def _on_arch_change() -> None:
    """Keep a switch of architecture valid: the CNN needs an image set and depth 6n+2."""
    if st.session_state.get("arch") != "cnn":
        return
    if st.session_state.get("dataset") in SYNTHETIC_DATASETS:
        st.session_state["dataset"] = "digits"
    for depth in _typed_depth():  # none when the depth box holds text that isn't a number: the error says so later
        st.session_state["depth"] = str(nearest_cnn_depth(depth))


def _widget(name: str, defaults: ExperimentConfig) -> Any:
    """One URL-bound widget for one field, labelled and explained from FIELDS."""
    default, spec = getattr(defaults, name), FIELDS[name]
    common = {"key": name, "bind": "query-params", "help": spec.help}
    if name == "depth":
        presets = [str(d) for d in sorted({*DEPTH_PRESETS, default, *_typed_depth()})]  # a typed depth joins the list
        depth = st.selectbox(
            spec.label,
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
            spec.label,
            spec.choices,
            index=spec.choices.index(default),
            horizontal=False,
            captions=[SHORTCUT_OPTIONS[c] for c in spec.choices],
            **common,
        )
    if spec.steps is not None:
        options = grid(spec.steps, default)
        scale = " (log scale)" if spec.kind is float else ""  # an int grid (image sizes) doubles, but 0 is on it too
        return st.select_slider(spec.label + scale, options, value=default, format_func=format_value, **common)
    if name == "dataset":
        return st.selectbox(
            spec.label,
            spec.choices,
            index=spec.choices.index(default),
            help=spec.help + ". " + "; ".join(f"{k}: {v}" for k, v in DATASET_LABELS.items()),
            key=name,
            bind="query-params",
        )
    if spec.choices is not None:
        on_change = _on_arch_change if name == "arch" else None
        return st.selectbox(spec.label, spec.choices, index=spec.choices.index(default), on_change=on_change, **common)
    if spec.kind is int:
        return st.number_input(spec.label, min_value=int(spec.low), max_value=int(spec.high), value=default, step=1, **common)
    if spec.kind is not float:
        raise ValueError(f"{name}: no widget for this field; it is set by the host or the CLI")
    return st.number_input(spec.label, min_value=spec.low, max_value=spec.high, value=default, format="%g", **common)


def experiment_controls(
    defaults: ExperimentConfig, page: str, *, mission: Sequence[str] = MISSION_FIELDS, advanced: Sequence[str] = ADVANCED_FIELDS
) -> ExperimentConfig:
    """Sidebar widgets for `mission` (always visible) and `advanced` (in an expander) -> a validated config.

    Fields in neither list keep their URL value (checked) or the page default. An invalid
    combination chosen in the widgets shows an error naming the field and stops the page: never a traceback.
    """
    check_url(defaults, page, (*mission, *advanced))
    values: dict[str, Any] = {}
    with st.sidebar:
        for name in mission:
            values[name] = _widget(name, defaults)
        with st.expander("More settings: architecture, data, optimiser"):
            for name in advanced:
                values[name] = _widget(name, defaults)
    try:
        values["depth"] = parse_value("depth", values.get("depth", defaults.depth))
        return host.guard(defaults.replace(**host.host_fields(url_values(skip=list(values)) | values)))
    except ConfigError as error:
        st.error(f"These settings can't run: {describe(error)}. Change the setting in the sidebar.", icon=":material/block:")
        st.stop()
        raise  # st.stop() raises; this line only tells type checkers the function never falls through
