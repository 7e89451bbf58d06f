"""Pin a finished run and draw the next one beside it on the same axes (shortcut A vs C, depth 20 vs 56).

The pin is the pinned run's settings in the URL (?pin=depth%3D20), so a share link, a reload and a
student following the teacher keep it; its records come from the shared result cache, where every
finished run is. Only the settings are kept: nothing is copied, and an evicted run says so.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, urlencode

import streamlit as st

from resnet_core.config import FIELDS, ConfigError, ExperimentConfig, format_value, parse_params
from ui import host
from ui.echo import describe
from ui.exports import share_params

PARAM = "pin"


def pinned_config(defaults: ExperimentConfig) -> ExperimentConfig | None:
    """The pinned run's settings from the URL, None when nothing is pinned; an unreadable pin is dropped with a warning."""
    raw = st.query_params.get(PARAM)
    if raw is None:
        return None
    try:
        values = parse_params({k: v for k, v in parse_qsl(raw) if k in FIELDS and FIELDS[k].in_url})
        return defaults.replace(**host.host_fields(values))
    except ConfigError as error:
        st.warning(f"The pinned run's settings can't be used ({describe(error)}); it was unpinned.", icon=":material/warning:")
        del st.query_params[PARAM]
        return None


def differences(config: ExperimentConfig, other: ExperimentConfig) -> str:
    """What sets `config` apart from `other`, as the settings' labels and values ("Depth (weight layers): 20")."""
    changed = [name for name in FIELDS if getattr(config, name) != getattr(other, name)]
    return " · ".join(f"{FIELDS[name].label}: {format_value(getattr(config, name))}" for name in changed) or "the same settings"


def pin_bar(config: ExperimentConfig, defaults: ExperimentConfig, *, finished: bool) -> ExperimentConfig | None:
    """ "Pin this run" under a finished run, "Unpin" while one is pinned; returns the pinned settings (None: none)."""
    pinned = pinned_config(defaults)
    pin_col, unpin_col, note_col = st.columns([1.5, 1, 3], vertical_alignment="center")
    if finished and pinned != config:
        pin_col.button(
            "Pin this run",
            icon=":material/push_pin:",
            width="stretch",
            key="pin_run",
            on_click=_set_pin,
            args=(urlencode(share_params(config, defaults)),),
            help="Keep this run on the page: the next run you train is drawn beside it, on the same axes.",
        )
    if pinned is not None:
        unpin_col.button("Unpin", icon=":material/close:", width="stretch", key="unpin_run", on_click=_drop_pin)
        if pinned == config:
            note_col.caption("This run is pinned. Change a setting and train: the new run is drawn beside it on the same axes.")
        else:
            then = "" if finished else " Train these settings to draw them beside it."
            note_col.caption(f"Pinned: {differences(pinned, config)}.{then}")
    return pinned


def _set_pin(value: str) -> None:
    st.query_params[PARAM] = value


def _drop_pin() -> None:
    st.query_params.pop(PARAM, None)
