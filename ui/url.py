"""A page's URL, judged before any widget exists: Streamlit's URL-bound widgets read it first.

What they can't take they either raise on (OverflowError on ?seed=inf) or quietly change (?width=9.7
shows 9). So `check_url` judges every raw value first: a bad value is dropped from the URL, a good one
is written back in the form its widget holds (sliders snap to their grid), the page reruns once on the
cleaned URL, and one warning per dropped value names the field and what is allowed (visitor text
always through `ui.echo`). A link never sets the CIFAR-10 path (`Field.in_url`): the host does.
A page with URL keys of its own (?depths=20&depths=56) passes their labels to `check_url`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import streamlit as st
from streamlit.errors import StreamlitAPIException

from lab.pages import page_named
from resnet_core.config import FIELDS, ConfigError, ExperimentConfig, format_value, parse_value
from serving.limits import HostLimits, cifar10_rule
from ui import host
from ui.echo import describe, echo

WARNINGS_KEY = "_query_warnings"
NOT_IN_URL = "was ignored: the CIFAR-10 location is set by this lab's host (RESNET_LAB_CIFAR10_PATH), never by a link"


def grid(steps: Sequence[float], default: float) -> list[float]:
    """The slider's values: the fixed log steps plus the page default, so the default is always reachable."""
    return sorted({*steps, default})


def nearest(value: float, options: Sequence[float]) -> float:
    """The option closest on a log scale; values far below the smallest positive step count as 0 when 0 is offered."""
    positive = [o for o in options if o > 0]
    zero = next((o for o in options if o == 0), None)  # the grid's own 0 (int or float), as the widget holds it
    if value <= 0 or (zero is not None and value < min(positive) / 10):
        return zero if zero is not None else min(positive)
    return min(positive, key=lambda o: abs(math.log10(o) - math.log10(value)))


def widget_value(name: str, value: Any, defaults: ExperimentConfig) -> Any:
    """The value in the form the field's widget holds (sliders snap to their grid)."""
    steps = FIELDS[name].steps
    return nearest(value, grid(steps, getattr(defaults, name))) if steps is not None else value


def _fallback(error: ConfigError, defaults: ExperimentConfig) -> str:
    """The warning for a dropped URL value: what was wrong with it (echoed) and the default shown instead."""
    return f"URL parameter {describe(error)}. Using the default, {echo(format_value(getattr(defaults, error.field)))}."


def _as_label(raw: str, labels: Sequence[str]) -> str | None:
    """The allowed label `raw` names: itself, or the one with its number (?alpha=0 is the label 0.0), else None."""
    if raw in labels:
        return raw
    try:
        number = float(raw)
    except ValueError:
        return None
    return next((label for label in labels if _number(label) == number), None)


def _number(label: str) -> float | None:
    try:
        return float(label)
    except ValueError:
        return None


def clean_params(
    params: Mapping[str, Sequence[str]],
    defaults: ExperimentConfig,
    widgets: Sequence[str],
    lists: Mapping[str, Sequence[str]],
    limits: HostLimits,
    most: Mapping[str, int] | None = None,
) -> tuple[dict[str, list[str]], list[str]]:
    """The URL as the page can hold it, and one warning per value dropped or changed.

    `params` is the raw query (every value of every key); `widgets` the fields this page draws
    (their values snap to the widget's grid); `lists` the page's own multi-value keys with their
    allowed labels, and `most` how many of them its multiselect holds (it keeps the first ones
    silently; here the rest are named). Unknown keys pass through untouched; a field keeps only its
    last value, as st.query_params reads it.
    """
    problems: list[str] = []
    kept: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    for key, raws in params.items():
        if key in lists:
            labels = [_as_label(raw, lists[key]) for raw in raws]
            for raw, label in zip(raws, labels, strict=True):
                if label is None:
                    problems.append(f"URL parameter **{key}**: {echo(raw)} is not one of {', '.join(lists[key])}; ignored.")
            good = list(dict.fromkeys(label for label in labels if label is not None))  # the widget drops repeats too
            cap = (most or {}).get(key)
            if cap is not None and len(good) > cap:
                problems.append(f"URL parameter **{key}**: at most {cap} values; ignored {echo(', '.join(good[cap:]))}.")
                good = good[:cap]
            if good:
                kept[key] = good
        elif key not in FIELDS:
            kept[key] = list(raws)
        elif not FIELDS[key].in_url:
            problems.append(f"URL parameter **{key}** {NOT_IN_URL}.")
        elif raws:
            try:
                values[key] = parse_value(key, raws[-1])
            except ConfigError as error:
                problems.append(_fallback(error, defaults))
    values, unavailable = cifar10_rule(values, limits)
    if unavailable:
        problems.append(unavailable)
    # The host's CIFAR-10 path takes part in the check below but is never written to the URL.
    host_only = {k: values.pop(k) for k in list(values) if not FIELDS[k].in_url}
    for _ in range(len(values)):  # drop the field each combination error names, until the rest fit
        try:
            defaults.replace(**values, **host_only)
            break
        except ConfigError as error:
            if error.field not in values:
                problems.append(f"URL parameters don't fit together: {describe(error)}. Using the page's defaults.")
                values.clear()
                break
            problems.append(_fallback(error, defaults))
            del values[error.field]
    for name, value in values.items():
        held = widget_value(name, value, defaults) if name in widgets else value
        if held != value:
            problems.append(f"URL parameter **{name}**: {echo(format_value(value))} is not on the slider; using {echo(held)}.")
        kept[name] = [format_value(held)]
    order = list(params)
    return dict(sorted(kept.items(), key=lambda item: order.index(item[0]))), problems


def check_url(
    defaults: ExperimentConfig,
    page: str,
    widgets: Sequence[str],
    lists: Mapping[str, Sequence[str]] | None = None,
    most: Mapping[str, int] | None = None,
) -> None:
    """Before a page's first widget: clean the URL once per visit (rerunning on the cleaned one) and show the warnings.

    `widgets` are the config fields the page draws, `lists` its own keys and their allowed labels: exactly the
    registry's `url_keys` of the page (lab.pages), which lessons and tests read; `most` the max_selections of those
    that are multiselects (pass the constant the widget uses).
    """
    flag = f"_query_checked_{page}"
    if st.session_state.get(flag):
        for problem in st.session_state.pop(WARNINGS_KEY, []):
            st.warning(problem, icon=":material/warning:")
        return
    declared = page_named(page).url_keys
    if sorted(lists or {}) != sorted(declared):
        raise ValueError(f"page {page!r} checks URL keys {sorted(lists or {})}; lab.pages registers {sorted(declared)}")
    st.session_state[flag] = True
    raw = {key: st.query_params.get_all(key) for key in st.query_params}
    cleaned, problems = clean_params(raw, defaults, widgets, lists or {}, host.limits(), most)
    if cleaned != raw:
        _rewrite_url(raw, cleaned)
        st.session_state[WARNINGS_KEY] = problems
        st.rerun()  # widgets seed from the URL the run started with: start again from the cleaned one
    for problem in problems:
        st.warning(problem, icon=":material/warning:")


def _rewrite_url(raw: Mapping[str, list[str]], cleaned: Mapping[str, list[str]]) -> None:
    """Make the URL hold `cleaned`; a key already bound to a drawn widget is the widget's to change, so it is left."""
    for key in raw:
        try:
            if key not in cleaned:
                del st.query_params[key]
            elif cleaned[key] != raw[key]:
                st.query_params[key] = cleaned[key]
        except StreamlitAPIException:
            continue
        st.session_state.pop(key, None)


def url_values(skip: Sequence[str]) -> dict[str, Any]:
    """Typed values of the URL's config fields outside `skip` (check_url has already dropped the bad ones)."""
    values: dict[str, Any] = {}
    for key in st.query_params:
        if key in FIELDS and FIELDS[key].in_url and key not in skip:
            try:
                values[key] = parse_value(key, st.query_params[key])
            except ConfigError:
                continue  # only reachable if a key could not be dropped; the page's default stands
    return values
