"""Figures of a stored sweep (serving.sweep.stored_sweep's summary): final error per setting, mean ± std over seeds.

Plain and residual keep the app's colours (charts.COLORS); training error solid, test error dashed,
as on the science pages; the error bars are the sample standard deviation over the stored seeds.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from lab.charts import COLORS, base_layout
from lab.science_charts import legend_below
from resnet_core.config import FIELDS
from resnet_core.specs import VARIANTS

ERROR_DASHES = {"train_error": "solid", "test_error": "dash"}
ERROR_NAMES = {"train_error": "training", "test_error": "test"}


def sweep_error_figure(summary: pd.DataFrame, x: str) -> go.Figure:
    """Final training and test error against `x` (depth, shortcut, ...), one line per net and error, bars = std over seeds."""
    fig = go.Figure()
    categorical = FIELDS[x].kind is str
    for variant in VARIANTS:
        part = summary[summary["variant"] == variant].sort_values(x)
        for error, dash in ERROR_DASHES.items():
            name = f"{variant}, {ERROR_NAMES[error]}"
            fig.add_trace(
                go.Scatter(
                    x=part[x].astype(str) if categorical else part[x],
                    y=part[f"{error}_mean"],
                    error_y={"type": "data", "array": part[f"{error}_std"].fillna(0), "visible": True, "thickness": 2},
                    customdata=part[[f"{error}_std", "seeds"]],
                    mode="lines+markers",
                    name=name,
                    line={"color": COLORS[variant], "width": 3, "dash": dash},
                    marker={"size": 10},
                    hovertemplate=f"{name}<br>{x} %{{x}}<br>error %{{y:.1%}} ± %{{customdata[0]:.1%}}"
                    "<br>%{customdata[1]} seeds<extra></extra>",
                )
            )
    fig = base_layout(fig, "Stored sweep: final error, mean ± std over seeds", FIELDS[x].label, "final error")
    legend_below(fig)
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    if categorical:
        fig.update_xaxes(type="category")
    else:
        fig.update_xaxes(tickvals=sorted(summary[x].unique().tolist()))
    return fig
