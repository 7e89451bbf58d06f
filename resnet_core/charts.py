"""DataFrame -> plotly Figure builders. Pure functions: no streamlit, no training.

One colour per variant across the whole app (Okabe-Ito, readable by colour-blind viewers
and on a washed-out projector); gradient norms always on log axes.
"""

from __future__ import annotations

import plotly.graph_objects as go

COLORS = {"plain": "#D55E00", "residual": "#0072B2"}
LABELS = {"plain": "plain", "residual": "residual"}
FONT_SIZE = 16


def base_layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, log_y: bool = False) -> go.Figure:
    """Shared look: large readable fonts, legend on top, log y for norms."""
    fig.update_layout(
        title={"text": title, "x": 0.0, "xanchor": "left"},
        font={"size": FONT_SIZE},
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.02, "xanchor": "right", "x": 1.0},
        margin={"l": 10, "r": 10, "t": 70, "b": 10},
        hovermode="closest",
    )
    fig.update_xaxes(title_text=x_title)
    fig.update_yaxes(title_text=y_title, type="log" if log_y else "linear", exponentformat="power" if log_y else "none")
    return fig
