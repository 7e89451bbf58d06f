"""Figures of the shattered-gradients and loss-landscape page: pure functions from lab.landscape's tables to Plotly.

Plain vermillion, residual blue (lab.style.COLORS) as everywhere; losses on log axes with one
tick per decade, so a trained loss of 0.003 and a rise to 5 are both readable.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.style import COLORS, FONT_SIZE, base_layout
from resnet_core.specs import VARIANTS

DIRECTION_DASHES = ("solid", "dash", "dot", "dashdot", "longdash")


def decade_ticks(low: float, high: float) -> tuple[list[int], list[str]]:
    """Integer exponents covering [low, high] (log10 values) and their labels 10^k, for a colour bar in log10 units."""
    exponents = list(range(math.floor(low), math.ceil(high) + 1))
    return exponents, [f"10<sup>{k}</sup>" for k in exponents]


def gradient_figure(gradients: pd.DataFrame, seed: int) -> go.Figure:
    """dy/dx along the input grid for one seed: plain above, residual below, each on its own scale (white vs brown noise)."""
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08, subplot_titles=VARIANTS)
    rows = gradients[gradients["seed"] == seed]
    for row, variant in enumerate(VARIANTS, 1):
        part = rows[rows["variant"] == variant]
        fig.add_trace(
            go.Scatter(
                x=part["x"],
                y=part["gradient"],
                mode="lines",
                name=variant,
                line={"color": COLORS[variant], "width": 2},
                hovertemplate="x = %{x:.3f}<br>dy/dx = %{y:.3g}<extra>" + variant + "</extra>",
            ),
            row=row,
            col=1,
        )
        fig.update_yaxes(title_text="dy/dx", row=row, col=1)
    base_layout(fig, f"Gradient dy/dx over the input grid (seed {seed})", "", "")
    fig.update_xaxes(title_text="input x", row=2, col=1)
    fig.update_annotations(font={"size": FONT_SIZE})
    return fig


def acf_figure(acf: pd.DataFrame) -> go.Figure:
    """Autocorrelation vs lag: every seed as a thin line, the mean over seeds bold."""
    fig = go.Figure()
    for variant in VARIANTS:
        mine = acf[acf["variant"] == variant]
        for seed, part in mine.groupby("seed"):
            fig.add_trace(
                go.Scatter(
                    x=part["lag"],
                    y=part["autocorrelation"],
                    mode="lines",
                    line={"color": COLORS[variant], "width": 1},
                    opacity=0.35,
                    showlegend=False,
                    legendgroup=variant,
                    hovertemplate=f"seed {seed}, lag %{{x}}: %{{y:.3f}}<extra>{variant}</extra>",
                )
            )
        mean = mine.groupby("lag", as_index=False)["autocorrelation"].mean()
        fig.add_trace(
            go.Scatter(
                x=mean["lag"],
                y=mean["autocorrelation"],
                mode="lines+markers",
                name=f"{variant} (mean over seeds)",
                legendgroup=variant,
                line={"color": COLORS[variant], "width": 4},
                marker={"color": COLORS[variant], "size": 6},
                hovertemplate="lag %{x}: %{y:.3f}<extra>" + variant + " mean</extra>",
            )
        )
    fig.add_hline(y=0, line={"color": "gray", "width": 1, "dash": "dot"})
    return base_layout(fig, "Autocorrelation of dy/dx vs lag (grid steps)", "lag (grid steps)", "autocorrelation")


def slice_1d_figure(lines: pd.DataFrame) -> go.Figure:
    """Loss along each random direction through the trained weights (a = 0), both nets, log y."""
    fig = go.Figure()
    for variant in VARIANTS:
        for direction, part in lines[lines["variant"] == variant].groupby("direction"):
            fig.add_trace(
                go.Scatter(
                    x=part["alpha"],
                    y=part["loss"],
                    mode="lines",
                    name=f"{variant}, direction {direction}",
                    legendgroup=variant,
                    line={"color": COLORS[variant], "width": 3, "dash": DIRECTION_DASHES[(direction - 1) % 5]},
                    hovertemplate="α = %{x:.2f}<br>loss = %{y:.3g}<extra>" + f"{variant}, direction {direction}</extra>",
                )
            )
    fig = base_layout(fig, "1-D slices: loss along filter-normalised random directions", "α (0 = trained weights)", "loss")
    fig.update_yaxes(type="log", dtick=1, exponentformat="power")
    return fig


def contour_figure(surfaces: dict[str, dict[str, Any]]) -> go.Figure:
    """The 2-D slices of both nets side by side: contours of log10(loss) on one shared colour scale, decade ticks."""
    logs = {v: np.log10(np.maximum(np.asarray(surfaces[v]["loss"], dtype=float), 1e-12)) for v in VARIANTS}
    low, high = min(z.min() for z in logs.values()), max(z.max() for z in logs.values())
    tickvals, ticktext = decade_ticks(low, high)
    fig = make_subplots(rows=1, cols=2, subplot_titles=VARIANTS, horizontal_spacing=0.08)
    for col, variant in enumerate(VARIANTS, 1):
        alpha = surfaces[variant]["alpha"]
        fig.add_trace(
            go.Contour(
                x=alpha,
                y=alpha,
                z=logs[variant],
                zmin=low,
                zmax=high,
                ncontours=20,
                colorscale="Viridis",
                showscale=col == 2,
                colorbar={"title": {"text": "loss"}, "tickvals": tickvals, "ticktext": ticktext},
                customdata=np.power(10.0, logs[variant]),
                hovertemplate="α = %{x:.2f}, β = %{y:.2f}<br>loss = %{customdata:.3g}<extra>" + variant + "</extra>",
                name=variant,
            ),
            row=1,
            col=col,
        )
        fig.add_trace(
            go.Scatter(
                x=[0], y=[0], mode="markers", marker={"color": COLORS[variant], "size": 12, "symbol": "x"}, showlegend=False
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="α (direction 1)", row=1, col=col)
    fig.update_yaxes(title_text="β (direction 2)", row=1, col=1)
    base_layout(fig, "2-D slices: contours of the loss around the trained weights (×)", "α (direction 1)", "")
    fig.update_annotations(font={"size": FONT_SIZE})
    return fig
