"""Figures of the lesion page: the tables of lab.lesion -> plotly Figures. Pure functions.

Plain and residual keep the app's colours (lab.style.COLORS); gradients use log axes.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.style import COLORS, FONT_SIZE, base_layout
from resnet_core.specs import VARIANTS


def single_deletion_figure(frame: pd.DataFrame) -> go.Figure:
    """Test error with each one block deleted (markers) against the intact net (dotted line); transitions as diamonds."""
    fig = go.Figure()
    for variant in VARIANTS:
        part = frame[frame["variant"] == variant]
        single = part[part["mode"] == "single"].assign(block=lambda f: f["deleted"].str[0])
        baseline = part[part["mode"] == "baseline"]["test_error"]
        fig.add_trace(
            go.Scatter(
                x=single["block"],
                y=single["test_error"],
                mode="lines+markers",
                name=variant,
                line={"color": COLORS[variant], "width": 3},
                marker={
                    "size": [14 if t else 8 for t in single["transitions"]],
                    "symbol": ["diamond" if t else "circle" for t in single["transitions"]],
                },
                hovertemplate=f"{variant}: block %{{x}} deleted<br>test error %{{y:.1%}}<extra></extra>",
            )
        )
        if not baseline.empty:
            fig.add_hline(y=float(baseline.iloc[0]), line={"color": COLORS[variant], "dash": "dot"})
    fig = base_layout(fig, "Test error with one block deleted (dotted: nothing deleted)", "deleted block", "test error")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(dtick=1)
    return fig


def random_deletion_figure(summary: pd.DataFrame, chance: float) -> go.Figure:
    """Mean test error with k random blocks deleted, bars from the lowest to the highest draw; chance as a line."""
    fig = go.Figure()
    for variant in VARIANTS:
        part = summary[summary["variant"] == variant].sort_values("k")
        fig.add_trace(
            go.Scatter(
                x=part["k"],
                y=part["mean"],
                mode="lines+markers",
                name=variant,
                line={"color": COLORS[variant], "width": 3},
                error_y={
                    "type": "data",
                    "symmetric": False,
                    "array": part["high"] - part["mean"],
                    "arrayminus": part["mean"] - part["low"],
                },
                hovertemplate=f"{variant}: %{{x}} blocks deleted<br>mean test error %{{y:.1%}}<extra></extra>",
            )
        )
    fig.add_hline(y=chance, line={"color": "#777777", "dash": "dash"}, annotation_text="chance")
    fig = base_layout(
        fig, "Test error with k random blocks deleted (bars: lowest to highest draw)", "blocks deleted, k", "test error"
    )
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(dtick=1)
    return fig


def paths_figure(paths: pd.DataFrame) -> go.Figure:
    """Veit et al. Fig. 6 measured: how many paths of each length, one path's gradient, the total gradient per length."""
    fig = make_subplots(
        rows=1,
        cols=3,
        horizontal_spacing=0.08,
        subplot_titles=("share of paths", "gradient of one path (log)", "share of the total gradient"),
    )
    color = COLORS["residual"]
    hover = "length %{x}<br>%{y:.3g}<extra></extra>"
    fig.add_trace(go.Bar(x=paths["k"], y=paths["share"], marker_color="#999999", name="paths", hovertemplate=hover), row=1, col=1)
    measured = paths[paths["grad_mean"] > 0]
    fig.add_trace(
        go.Scatter(
            x=measured["k"],
            y=measured["grad_mean"],
            mode="lines+markers",
            line={"color": color, "width": 3},
            error_y={"type": "data", "array": measured["grad_std"]},
            name="||dL/da0|| of one path",
            hovertemplate=hover,
        ),
        row=1,
        col=2,
    )
    fig.add_trace(
        go.Bar(x=paths["k"], y=paths["total_share"], marker_color=color, name="total gradient", hovertemplate=hover), row=1, col=3
    )
    fig.update_layout(
        title={"text": "Paths of the residual net by length (blocks whose branch the path passes through)", "x": 0.0},
        font={"size": FONT_SIZE},
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 90, "b": 10},
    )
    fig.update_xaxes(title_text="path length k")
    fig.update_yaxes(type="log", exponentformat="power", row=1, col=2)
    fig.update_yaxes(tickformat=".0%", row=1, col=1)
    fig.update_yaxes(tickformat=".0%", row=1, col=3)
    return fig
