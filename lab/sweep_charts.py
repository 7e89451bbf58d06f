"""Figures of a stored sweep (serving.sweep.stored_sweep's summary): final error per setting over seeds.

Drawn as every page draws seeds (lab.spread.add_band): the mean as a line, the min–max range over
the stored seeds as a band. Plain and residual keep the app's colours (lab.style.COLORS); training
error solid, test error dashed, as on the science pages.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from lab.spread import add_band
from lab.style import COLORS, base_layout
from resnet_core.config import FIELDS
from resnet_core.specs import VARIANTS

ERROR_DASHES = {"train_error": "solid", "test_error": "dash"}
ERROR_NAMES = {"train_error": "training", "test_error": "test"}


def sweep_error_figure(summary: pd.DataFrame, x: str) -> go.Figure:
    """Final training and test error against `x` (depth, shortcut, ...), one line per net and error, band = seed range."""
    fig = go.Figure()
    categorical = FIELDS[x].kind is str
    for variant in VARIANTS:
        part = summary[summary["variant"] == variant].sort_values(x)
        for error, dash in ERROR_DASHES.items():
            seeds = pd.DataFrame(
                {
                    x: part[x].astype(str) if categorical else part[x],
                    **{stat: part[f"{error}_{stat}"] for stat in ("mean", "low", "high")},
                    "n": part["seeds"],
                }
            )
            add_band(fig, seeds, x, COLORS[variant], f"{variant}, {ERROR_NAMES[error]}", dash=dash)
    fig = base_layout(fig, "Stored sweep: final error, mean and range over seeds", FIELDS[x].label, "final error")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    if categorical:
        fig.update_xaxes(type="category")
    else:
        fig.update_xaxes(tickvals=sorted(summary[x].unique().tolist()))
    return fig
