"""Seed spread: every comparison runs several seeds, and its numbers, bands and sentences carry their spread.

One seed can mislead: at lr 0.1 residual-56 ends anywhere between 3% and 63% training error
over four seeds (docs/SCIENCE_NOTES.md 4). So a comparison is a set of per-seed differences,
and a sentence says "on every seed", "on k of n seeds" or "within seed noise" from them.
The spread itself (mean and min–max range, `seed_summary`, `range_text`) is defined once in
resnet_core.results, where the sweep's table reads it too.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from lab.style import base_layout
from resnet_core.results import range_text, seed_summary

SEED_COUNTS = (1, 2, 3, 4, 5)  # the choices of the "Seeds" control
DEFAULT_SEEDS = 3
MARGIN = 0.02  # two points of error: differences smaller than this count as no difference


def seeds_from(first: int, count: int) -> list[int]:
    """The seeds of a comparison: the config's seed and the next ones."""
    return [first + i for i in range(count)]


@dataclass(frozen=True)
class Spread:
    """Values of one quantity over seeds."""

    values: tuple[float, ...]

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def low(self) -> float:
        return min(self.values)

    @property
    def high(self) -> float:
        return max(self.values)

    def percent(self) -> str:
        return range_text(self.mean, self.low, self.high, len(self.values))

    def show(self, spec: str = ".3g") -> str:
        """The mean and, over several seeds, [min–max] in one number format: "0.412 [0.38–0.45]"."""
        return range_text(self.mean, self.low, self.high, len(self.values), spec)

    def above(self, margin: float = MARGIN) -> int:
        """On how many seeds the value exceeds `margin`."""
        return sum(v > margin for v in self.values)

    def below(self, margin: float = MARGIN) -> int:
        return sum(v < -margin for v in self.values)


def spread_of(values: Iterable[float]) -> Spread:
    return Spread(tuple(float(v) for v in values))


def band_order(a: Spread, b: Spread) -> int:
    """-1 if a's seed range lies wholly below b's, 1 if wholly above, 0 if the ranges overlap (within seed noise)."""
    if a.high < b.low:
        return -1
    if a.low > b.high:
        return 1
    return 0


def noise_note(n: int) -> str:
    """What a band comparison over n seeds can say: with one seed there is no range to overlap."""
    return " (one seed: no spread measured, so any difference counts)" if n == 1 else ""


def how_many(count: int, total: int) -> str:
    """ "on every seed (3 of 3)", "on 2 of 3 seeds", "on no seed"."""
    if count == total:
        return f"on every seed ({count} of {total})" if total > 1 else "on this seed (one seed: no spread measured)"
    return f"on {count} of {total} seeds" if count else "on no seed"


def add_band(
    fig: go.Figure,
    summary: pd.DataFrame,
    x: str,
    color: str,
    name: str,
    *,
    row: int | None = None,
    col: int | None = None,
    value_format: str = ".1%",
    showlegend: bool = True,
    opacity: float = 1.0,
    labels: Sequence[str] | None = None,
    **line: object,
) -> None:
    """The seed mean as a line and the min–max range over seeds as a shaded band behind it (rows in x order).

    `opacity` fades line and band together (a sweep's weaker settings); `labels` name each point in the hover
    (a layer's `named_parameters()` name)."""
    if (summary["n"] > 1).any():
        fig.add_trace(
            go.Scatter(
                x=[*summary[x], *summary[x][::-1]],
                y=[*summary["high"], *summary["low"][::-1]],
                mode="lines",
                fill="toself",
                fillcolor=color,
                opacity=0.18 * opacity,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=name,
            ),
            row=row,
            col=col,
        )
    fig.add_trace(
        go.Scatter(
            x=summary[x],
            y=summary["mean"],
            mode="lines+markers",
            line={"color": color, "width": 3, **line},
            opacity=opacity,
            name=name,
            legendgroup=name,
            showlegend=showlegend,
            text=labels,
            customdata=summary[["low", "high", "n"]],
            hovertemplate=f"{name}<br>%{{x}}{': %{text}' if labels is not None else ''}: %{{y:{value_format}}} (range "
            f"%{{customdata[0]:{value_format}}}–%{{customdata[1]:{value_format}}} over %{{customdata[2]}} seeds)<extra></extra>",
        ),
        row=row,
        col=col,
    )


def error_bands(evals: pd.DataFrame, by: str, style: dict[str, tuple[str, str]], title: str) -> go.Figure:
    """Training error vs step of each group in `by` (seed mean and range); style: group -> (colour, dash)."""
    fig = go.Figure()
    for group, (color, dash) in style.items():
        part = evals[evals[by] == group]
        if not part.empty:
            add_band(fig, seed_summary(part, ["step"], "train_error"), "step", color, str(group), dash=dash)
    fig = base_layout(fig, title, "step", "training error")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    return fig
