"""The hosted demo's guard-rails on the Streamlit side: read the host's limits, refuse, queue.

`serving.limits` and `serving.cost` hold the rules (pure Python); this module takes the host's settings
(serving.settings, read once per process), turns a refusal into an st.error
that names the largest allowed values, and shows "waiting for a free slot (k ahead)" while a
training waits for one. On a laptop nothing is configured and every function lets all through
(CIFAR-10 still comes only from RESNET_LAB_CIFAR10_PATH).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import streamlit as st

from resnet_core.config import ExperimentConfig
from serving.cost import budget_message, first_view_fits, sweep_message
from serving.limits import HostLimits, cifar10_rule
from serving.settings import PREFIX, host_settings
from ui.echo import describe


def limits() -> HostLimits:
    """This host's limits; a malformed setting is the host's mistake: shown, and the mode's defaults apply meanwhile.

    Never "no limits": a typo in one setting of a hosted lab must not lift every cap.
    """
    settings = host_settings()
    try:
        return HostLimits.from_settings(settings)
    except ValueError as error:
        st.error(
            f"This lab's host configuration is invalid ({describe(error)}); using the default limits until it is fixed.",
            icon=":material/build:",
        )
        return HostLimits.from_settings({key: settings[key] for key in (PREFIX + "HOSTED",) if key in settings})


def host_fields(values: dict[str, Any], host: HostLimits | None = None) -> dict[str, Any]:
    """Config values with the CIFAR-10 path taken from the host (serving.limits.cifar10_rule), whatever the page held."""
    values, unavailable = cifar10_rule(values, host or limits())
    if unavailable:
        st.warning(unavailable, icon=":material/warning:")
    return values


def guard(config: ExperimentConfig) -> ExperimentConfig:
    """Stop the page with a clear message when even its first view (the init measurement) is over this host's budget.

    Training over the budget does not blank the page: the runner turns Train off and says why (`training_refusal`).
    """
    host = limits()
    if not first_view_fits(config, host):
        message = budget_message(config, host)
        st.error(f"This setting is too large for this hosted lab: {message}", icon=":material/block:")
        st.stop()
    return config


def training_refusal(configs: Sequence[ExperimentConfig]) -> str | None:
    """Why training these pairs is over this host's budget, naming the limit and what to lower; None when it fits."""
    if len(configs) == 1:
        return budget_message(configs[0], limits())
    return sweep_message(configs, limits()) if configs else None
