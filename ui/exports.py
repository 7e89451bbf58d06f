"""Getting a view out of the lab: share link, CSV / JSON downloads, named PNGs, the device line.

A teacher pastes the link into the class chat; a student downloads the numbers behind a
chart. Both come from the validated config and the RunLog, never from widget text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Hashable
from typing import Any
from urllib.parse import urlencode

import plotly.graph_objects as go
import streamlit as st

from lab.style import l2_label
from resnet_core.config import FIELDS, ExperimentConfig
from resnet_core.results import RunLog, json_safe
from ui import presenter, shared

SHARE_TEXT = "Share this view"


NAME_HEAD = ("arch", "depth", "shortcut", "l2")  # always in a file name, in this short form


def view_name(page: str, config: ExperimentConfig, defaults: ExperimentConfig) -> str:
    """A file name that says what the view shows, e.g. gradient-flow_cnn-56_A_l2-1e-4_image_size-32.

    Every other URL field that differs from the page's own `defaults` follows as `field-value`, so two
    exports of one page's different runs (8 vs 32 px, zero vs circular padding, BN or none) never share a
    name, and a page's default view has a short one (the page's name says the rest)."""
    head = f"{page}_{config.arch}-{config.depth}_{config.shortcut}_l2-{l2_label(config.l2)}"
    rest = {k: v for k, v in share_params(config, defaults).items() if k not in NAME_HEAD}
    return "_".join([head, *(f"{k}-{v.replace(',', '+')}" for k, v in rest.items())])  # lr_drops: no comma in a name


def share_params(config: ExperimentConfig, defaults: ExperimentConfig, extra: dict[str, str] | None = None) -> dict[str, str]:
    """Only what differs from the page's defaults, so links stay short and the defaults can evolve; never the host's data path."""
    base = defaults.to_params(include_defaults=True)
    params = {k: v for k, v in config.to_params(include_defaults=True).items() if base[k] != v and FIELDS[k].in_url}
    return params | (extra or {})


def page_params() -> list[tuple[str, str]]:
    """The URL's own page settings beyond the config (?depths=20&depths=56, ?alpha=0.0), repeated keys kept."""
    return [
        (key, value)
        for key in st.query_params
        if key not in FIELDS and key not in (presenter.PARAM, presenter.FOLLOW_PARAM)
        for value in st.query_params.get_all(key)
    ]


def share_link(config: ExperimentConfig, defaults: ExperimentConfig, extra: dict[str, str] | None = None) -> str:
    """The URL of this view; relative ("?...") when the browser's address is not known (tests, first run)."""
    own = share_params(config, defaults, extra)
    query = urlencode([*own.items(), *((k, v) for k, v in page_params() if k not in own)])
    base = st.context.url or ""
    return f"{base}?{query}" if query else (base or "?")


def share_box(config: ExperimentConfig, defaults: ExperimentConfig, extra: dict[str, str] | None = None) -> None:
    """ "Share this view" as a plain link: st.code would make every visitor download a 1.5 MB code highlighter,
    and a link button keeps the visitor's URL values out of Markdown."""
    st.link_button(SHARE_TEXT, share_link(config, defaults, extra), icon=":material/link:")
    st.caption("Copy the link (right-click or long-press): opening it reproduces every setting on this page.")


def plotly_config(filename: str) -> dict[str, Any]:
    """Plotly toolbar settings: the PNG download gets a file name that says what it shows; none when presenting."""
    toolbar = {"displayModeBar": False} if presenter.is_presenting() else {}  # a projector shows charts, not tools
    return {"toImageButtonOptions": {"format": "png", "filename": filename, "scale": 2}, "displaylogo": False} | toolbar


def show_figure(
    fig: go.Figure | Callable[[], go.Figure], filename: str, key: str, *, source: object = None, what: Hashable = ()
) -> None:
    """st.plotly_chart with the named PNG download; `key` keeps repeated live redraws distinct.

    `fig` may be a builder: drawn from a finished `source` (ui.shared.finished), the screen figure is
    built once per server for each `what` (the chart and its arguments), not once per session."""
    screen = (presenter.is_presenting(), presenter.theme_type())  # what screen_figure reads besides the figure
    build = fig if callable(fig) else lambda: fig
    shown = shared.derived(source, (filename, what, screen), lambda: presenter.screen_figure(build()))
    st.plotly_chart(shown, config=plotly_config(filename), key=key, width="stretch")


def run_json_text(log: RunLog) -> str:
    """The whole run as strict JSON (NaN -> null), the same document the CLI writes."""
    return json.dumps(json_safe(log.to_json()), indent=1)


def download_buttons(log: RunLog, name: str, key: str) -> None:
    """CSV of the per-layer/per-block records (long format) and JSON of the whole run."""
    csv_and_json(
        ("Download CSV (per-layer records)", lambda: log.export_frame().to_csv(index=False)),
        ("Download JSON (whole run)", lambda: run_json_text(log)),
        name,
        key,
    )


def csv_and_json(csv: tuple[str, Callable[[], str]], json_: tuple[str, Callable[[], str]], name: str, key: str) -> None:
    """The two download buttons of every page, side by side: (label, text) each, `name`.csv and `name`.json.

    Both are written when clicked (Streamlit's deferred download), not on every rerun of every
    session: for the 1000-layer lesson they were 9% of the server's CPU under a class's load.
    """
    for column, (label, text), extension, mime in zip(
        st.columns(2), (csv, json_), ("csv", "json"), ("text/csv", "application/json"), strict=True
    ):
        column.download_button(
            label,
            text,
            file_name=f"{name}.{extension}",
            mime=mime,
            icon=":material/download:",
            key=f"{key}_{extension}",
            on_click="ignore",
        )


def device_line(log: RunLog) -> str:
    """Which device ran the numbers on screen, from the run's own meta record."""
    devices = sorted({meta.get("device", "?") for meta in log.meta.values()})
    return "computed on " + ", ".join(devices) if devices else ""
