"""The hosted demo's guard-rails on the Streamlit side: read the host's limits, refuse, queue.

`serving.limits` holds the rules (pure Python); this module reads the settings from the
environment and `.streamlit/secrets.toml` (environment wins), turns a refusal into an st.error
that names the largest allowed values, and shows "waiting for a free slot (k ahead)" while a
training waits for one. On a laptop nothing is configured and every function lets all through.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from resnet_core.config import ExperimentConfig
from serving.limits import (
    HostLimits,
    budget_message,
    sweep_message,
)
from serving.settings import PREFIX, read_settings


def limits() -> HostLimits:
    """This host's limits; a malformed setting is the host's mistake: shown, and the mode's defaults apply meanwhile.

    Never "no limits": a typo in one setting of a hosted lab must not lift every cap.
    """
    settings = read_settings()
    try:
        return HostLimits.from_settings(settings)
    except ValueError as error:
        st.error(
            f"This lab's host configuration is invalid ({error}); using the default limits until it is fixed.",
            icon=":material/build:",
        )
        return HostLimits.from_settings({key: settings[key] for key in (PREFIX + "HOSTED",) if key in settings})


def host_fields(values: dict[str, Any], host: HostLimits | None = None) -> dict[str, Any]:
    """Config values with the CIFAR-10 path taken from the host in hosted mode, whatever the visitor sent."""
    host = host or limits()
    if not host.hosted:
        return values
    if values.get("data_path"):
        st.warning(
            "The CIFAR-10 location is set by this lab's host; the path in the link was ignored.", icon=":material/warning:"
        )
    values = {k: v for k, v in values.items() if k != "data_path"}
    if values.get("dataset") == "cifar10" and host.cifar10_path:
        values["data_path"] = host.cifar10_path
    elif values.get("dataset") == "cifar10":
        st.warning(
            "CIFAR-10 is not available on this hosted lab (its host has not configured a copy); showing the 8x8 digits instead.",
            icon=":material/warning:",
        )
        values["dataset"] = "digits"
    return values


def guard(config: ExperimentConfig) -> ExperimentConfig:
    """Stop the page with a clear message when one config is over this host's budget."""
    message = budget_message(config, limits())
    if message is not None:
        st.error(f"This setting is too large for this hosted lab: {message}", icon=":material/block:")
        st.stop()
    return config


def guard_sweep(configs: Sequence[ExperimentConfig]) -> None:
    """Stop the page with a clear message when a multi-config request is over this host's budget."""
    message = sweep_message(configs, limits())
    if message is not None:
        st.error(f"This request is too large for this hosted lab: {message}", icon=":material/block:")
        st.stop()
