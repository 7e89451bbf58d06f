"""Axes a classroom can read: decade labels on log axes and text sizes set on every axis explicitly.

Plotly labels the minor ticks of a short log axis with bare digits ("2, 5, 9" where 9 means 0.9)
and Streamlit's chart theme sets each axis's tick font itself, so a size given only in
`layout.font` never reaches the tick labels. `for_screen` fixes both (and drops the markers of long lines,
lab.style) on a copy of any figure,
whichever page built it, once, right before it is drawn.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np
import plotly.graph_objects as go

from lab.style import FONT_SIZE, unmark_long_lines

SUPERSCRIPT = str.maketrans("-0123456789", "⁻⁰¹²³⁴⁵⁶⁷⁸⁹")
MANTISSAS = (1, 2, 5)  # between decades, when an axis spans too few of them to read a trend
CHART_HEIGHT = 450  # px: st.plotly_chart's height for a figure that sets none
DECADE_LABELS = 7  # at most this many decades labelled on a log axis: twelve 24 px labels overlapped on a projector
LEGEND_FREE = 4  # legend entries a chart holds at the default height (two rows of two on a phone)
LEGEND_ROW = 1.9  # a legend row's height in font sizes (30 px at 16 px, measured in a 390 px screenshot)
INTEGER_SPAN = 12  # up to this span an axis of whole numbers ticks every 1 (half of it) or 2: at most 7 labels


def power_label(exponent: int, mantissa: int = 1) -> str:
    """10⁻³, 2·10⁻³: one way to write a tick on every log axis and colour bar."""
    power = "10" + str(exponent).translate(SUPERSCRIPT)
    return power if mantissa == 1 else f"{mantissa}·{power}"


def log_ticks(values: Iterable[float]) -> tuple[list[float], list[str]]:
    """Tick positions and labels over the positive finite values: every decade (every 2nd, 3rd, ... when more than
    DECADE_LABELS would show), plus 2 and 5 when under two decades show."""
    data = np.asarray([v for v in values if v is not None], dtype=float)
    data = data[np.isfinite(data) & (data > 0)]
    if not data.size:
        return [], []
    low, high = math.log10(float(data.min())), math.log10(float(data.max()))
    stride = math.ceil((math.ceil(high) - math.floor(low) + 1) / DECADE_LABELS)  # 10⁻² .. 10⁹ on a chart: every 2nd
    decades = [e for e in range(math.floor(low) - stride, math.ceil(high) + stride + 1) if e % stride == 0]
    mantissas = MANTISSAS if math.floor(high) - math.ceil(low) < 1 else (1,)
    ticks = [(m * 10.0**e, power_label(e, m)) for e in decades for m in mantissas]
    # keep the ticks inside the data, plus one on each side so the range is framed
    inside = [i for i, (value, _) in enumerate(ticks) if 10**low <= value <= 10**high]
    first, last = (max(inside[0] - 1, 0), min(inside[-1] + 1, len(ticks) - 1)) if inside else (0, len(ticks) - 1)
    kept = ticks[first : last + 1]
    return [value for value, _ in kept], [label for _, label in kept]


def _legend_growth(fig: go.Figure, font_size: int) -> int:
    """Pixels to add for a bottom legend of many entries: on a phone each entry can take a row of its own, and ten of
    them left the Identity page's charts a plot 60 px high. Up to LEGEND_FREE entries fit in the chart as it is."""
    if fig.layout.legend.yref != "container" or fig.layout.showlegend is False:
        return 0
    entries = [t for t in fig.data if t.type in ("scatter", "bar") and t.name and t.showlegend is not False]
    return max(0, len(entries) - LEGEND_FREE) * round(font_size * LEGEND_ROW) if len(entries) > 1 else 0


def _tick_frame(ticks: list[float], data: list[float]) -> tuple[float, float] | None:
    """The nearest ticks at or outside the positive finite data, when fewer than two ticks fall within it (else None)."""
    positive = np.asarray([v for v in data if v is not None], dtype=float)
    positive = positive[np.isfinite(positive) & (positive > 0)]
    if not positive.size or sum(positive.min() <= tick <= positive.max() for tick in ticks) >= 2:
        return None
    below = [tick for tick in ticks if tick <= positive.min()] or ticks[:1]
    above = [tick for tick in ticks if tick >= positive.max()] or ticks[-1:]
    return below[-1], above[0]


def _axis_values(fig: go.Figure, axis: str) -> list[float]:
    """Every number drawn on a layout axis ("yaxis2"), frames included, read from the traces that use it."""
    letter, number = axis[0], axis[5:]
    values: list[float] = []
    traces = [*fig.data, *(trace for frame in fig.frames or () for trace in frame.data)]
    for trace in traces:
        if (getattr(trace, f"{letter}axis", None) or letter) != letter + number:
            continue
        column = getattr(trace, letter, None)
        if column is not None:
            values.extend(np.asarray(column, dtype=float).ravel().tolist())
    return values


def _integer_ticks(axis: go.layout.XAxis | go.layout.YAxis, fig: go.Figure, name: str) -> None:
    """Whole-number ticks on a short axis of whole numbers: Plotly splits layers 1..3 into 1, 1.5, 2, 2.5, 3,
    and "block 1.5" reads as a measurement that does not exist. Longer axes already tick at whole numbers."""
    try:
        values = np.asarray(_axis_values(fig, name), dtype=float)
    except (TypeError, ValueError):  # text categories
        return
    values = values[np.isfinite(values)]
    if not values.size or not np.all(values == np.round(values)):
        return
    low, span = float(values.min()), float(values.max() - values.min())
    if 1 <= span <= INTEGER_SPAN:
        axis.update(tick0=low, dtick=1 if span <= INTEGER_SPAN / 2 else 2)


def share_y(figures: Sequence[go.Figure], pad: float = 0.04) -> None:
    """Give every figure the y-range that holds all of their data, so two runs drawn side by side compare by height.

    A log axis spans the positive finite values (in decades, as Plotly's range is), a linear one every finite value;
    `pad` widens the range by that share on each side so no marker sits on the frame.
    """
    log = any(fig.layout.yaxis.type == "log" for fig in figures)
    values = np.asarray([v for fig in figures for v in _axis_values(fig, "yaxis")], dtype=float)
    values = values[np.isfinite(values) & (values > 0)] if log else values[np.isfinite(values)]
    if not values.size:
        return
    low, high = (np.log10(values.min()), np.log10(values.max())) if log else (values.min(), values.max())
    margin = (high - low) * pad or 0.5
    for fig in figures:
        fig.layout.yaxis.update(range=[float(low - margin), float(high + margin)], autorange=False)


def for_screen(fig: go.Figure, font_size: int) -> go.Figure:
    """A copy for the screen: decade labels on log axes, whole-number ticks on short integer axes, every text
    `font_size` (titles a fifth larger, with a top margin grown to match), room for a long legend, and long lines
    without markers."""
    fig = go.Figure(fig)
    unmark_long_lines(fig)
    fig.update_layout(font_size=font_size, legend_font_size=font_size, title_font_size=round(font_size * 1.2))
    if fig.layout.margin.t is not None:  # the title's lines grow with the text: so does the room kept for them
        grown = round(fig.layout.margin.t * font_size / FONT_SIZE)
        if grown != fig.layout.margin.t:  # and the plot keeps its height (a projector's was cut to a third)
            fig.layout.height = (fig.layout.height or CHART_HEIGHT) + grown - fig.layout.margin.t
        fig.layout.margin.t = grown
    if extra := _legend_growth(fig, font_size):  # the shared bottom legend's rows take the plot's height otherwise
        fig.layout.height = (fig.layout.height or CHART_HEIGHT) + extra
    axes = [name for name in fig.layout if name.startswith(("xaxis", "yaxis"))] or ["xaxis", "yaxis"]
    for name in axes:
        axis = fig.layout[name]
        axis.update(tickfont_size=font_size, title_font_size=font_size)
        if axis.type in (None, "linear", "-"):
            _integer_ticks(axis, fig, name)
        if axis.type == "log":
            data = _axis_values(fig, name)
            framed = [10.0**end for end in axis.range or ()]  # a shared range (share_y) is labelled to its ends
            values, labels = log_ticks([*data, *framed])
            if values:
                axis.update(tickmode="array", tickvals=values, ticktext=labels, minor_showgrid=False)
            if values and not axis.range and (frame := _tick_frame(values, data)):
                # data between two ticks (0.086..0.16: only 10⁻¹ inside) would show one label: frame it by ticks
                axis.update(range=[math.log10(frame[0]), math.log10(frame[1])])
    for annotation in fig.layout.annotations or ():  # subplot titles
        annotation.font.size = font_size
    if any(getattr(trace, "coloraxis", None) for trace in fig.data):
        fig.update_coloraxes(colorbar_tickfont_size=font_size, colorbar_title_font_size=font_size)
    return fig
