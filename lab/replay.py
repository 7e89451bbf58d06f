"""A trained run replayed in the browser: every recorded step a frame of one Plotly figure.

The slider, Play, Pause, Reset and the single steps are Plotly's own (`frames`, `sliders`,
`updatemenus`), so scrubbing and playback run in the viewer's browser: no server round trip per
step, and a cached run still unfolds live in front of a class at the chosen speed. A Plotly button
has fixed arguments, so every frame carries the step buttons that point at its own neighbours. Left: each layer's
weight-gradient norm before the update the slider names; right: the loss curves up to it.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.gradient_flow import gradient_reading
from lab.gradient_flow_charts import LAYER_STYLES, layer_trace
from lab.style import COLORS, LAYER_AXIS, TITLE_LINE_PX, base_layout, chart_title, title_margin
from resnet_core.results import RunLog
from resnet_core.specs import VARIANTS

SPEEDS = {"slow": 600, "normal": 250, "fast": 80}  # milliseconds per recorded step


def _log_range(values: pd.Series) -> list[float]:
    """A fixed log axis range over every frame, so the axis never jumps while the run plays."""
    positive = values[(values > 0) & np.isfinite(values)]
    if positive.empty:
        return [-1.0, 1.0]
    return [math.log10(positive.min()) - 0.1, math.log10(positive.max()) + 0.1]


def update_label(step: int, steps: int) -> str:
    """Step t is measured on the weights after t updates, i.e. the gradient of update t+1 (of `steps`)."""
    return f"update {step + 1} of {steps}"


def _traces(layers: pd.DataFrame, curves: pd.DataFrame, step: int, kinds: list[tuple[str, str]]) -> list[go.Scatter]:
    """The figure's traces at one step, always in the same order (a frame replaces them one for one)."""
    traces = []
    at = layers[layers["step"] == step]
    for variant, kind in kinds:
        traces.append(layer_trace(at[(at["variant"] == variant) & (at["kind"] == kind)], variant, kind))
    for variant in VARIANTS:
        part = curves[(curves["variant"] == variant) & (curves["step"] <= step)]
        traces.append(
            go.Scatter(
                x=part["step"],
                y=part["loss"],
                mode="lines",
                line={"color": COLORS[variant], "width": 3},
                legendgroup=variant,
                showlegend=False,
                xaxis="x2",
                yaxis="y2",
                hovertemplate="step %{x}<br>loss %{y:.3g}<extra>" + variant + "</extra>",
            )
        )
    return traces


def _title(log: RunLog, step: int) -> str:
    reading = gradient_reading(log, step, when="")
    return chart_title(f"Gradients before {update_label(step, log.config.steps)}", reading)


# Rows under the plots, in the plots' heights (below the x-axis titles): the legend, the player's buttons, the single
# steps, the slider. Two short rows of buttons fit a 390 px phone, where one row of five was cut off.
LEGEND_Y, PLAYER_Y, STEPS_Y, SLIDER_Y = -0.25, -0.36, -0.46, -0.6
# light buttons with dark labels in both themes: Plotly draws a hovered button near-white whatever its face, so the dark
# theme's white labels vanished under the pointer ("Play" blank on a dark projector)
BUTTON = {"bgcolor": "#e4e4e4", "bordercolor": "#8c8c8c", "font": {"size": 14, "color": "#111111"}}
IMMEDIATE = {"mode": "immediate", "frame": {"duration": 0, "redraw": True}, "transition": {"duration": 0}}


def _go_to(steps: list[int], at: int) -> list:
    return [[str(steps[min(max(at, 0), len(steps) - 1)])], IMMEDIATE]


def _step_buttons(steps: list[int], index: int) -> list[dict]:
    """While frame `index` shows: one step back and forward go to its neighbours (held at the ends)."""
    return [
        {"label": "◀ Step", "method": "animate", "args": _go_to(steps, index - 1)},
        {"label": "Step ▶", "method": "animate", "args": _go_to(steps, index + 1)},
    ]


def _player_buttons(steps: list[int], ms_per_step: int) -> list[dict]:
    play = {"frame": {"duration": ms_per_step, "redraw": True}, "fromcurrent": True, "transition": {"duration": 0}}
    return [
        {"label": "▶ Play", "method": "animate", "args": [None, play]},
        {"label": "❚❚ Pause", "method": "animate", "args": [[None], IMMEDIATE]},
        {"label": "⟲ Reset", "method": "animate", "args": _go_to(steps, 0)},
    ]


def _menu(buttons: list[dict], y: float) -> dict:
    """A row of buttons (BUTTON), none kept highlighted after a click."""
    return {
        "type": "buttons",
        "direction": "right",
        "buttons": buttons,
        "showactive": False,
        **BUTTON,
        "pad": {"t": 0, "r": 2},
        "x": 0.0,
        "y": y,
        "xanchor": "left",
        "yanchor": "top",
    }


def replay_figure(log: RunLog, ms_per_step: int) -> go.Figure:
    """All recorded steps of a run as frames, with a slider and Play / Pause / Reset that never ask the server."""
    layers = log.layer_frame()
    layers = layers[layers["metric"] == "grad_norm"]
    curves = log.curve_frame()
    steps = sorted(layers["step"].unique().tolist())
    present = set(zip(layers["variant"], layers["kind"], strict=True))
    kinds = [(v, k) for v in VARIANTS for k, _, _ in LAYER_STYLES if (v, k) in present]
    # the loss panel is named by its own title, not a y-axis title: on a phone that title sat on the gradients' plot
    fig = make_subplots(rows=1, cols=2, column_widths=[0.62, 0.38], horizontal_spacing=0.12, subplot_titles=("", "loss"))
    for trace in _traces(layers, curves, steps[-1], kinds):
        fig.add_trace(trace)
    titles = [_title(log, step) for step in steps]
    fig.frames = [
        go.Frame(
            name=str(step),
            data=_traces(layers, curves, step, kinds),
            layout={"title": {"text": titles[index]}, "updatemenus": [{"buttons": _step_buttons(steps, index)}]},
        )
        for index, step in enumerate(steps)
    ]
    fig.update_layout(
        updatemenus=[_menu(_step_buttons(steps, len(steps) - 1), STEPS_Y), _menu(_player_buttons(steps, ms_per_step), PLAYER_Y)],
        sliders=[
            {
                "active": len(steps) - 1,
                "x": 0.0,
                "len": 1.0,
                "y": SLIDER_Y,
                "yanchor": "top",
                "pad": {"t": 0},
                "currentvalue": {"prefix": "gradients before update ", "suffix": f" of {log.config.steps}", "font": {"size": 18}},
                "font": {"size": 11},
                "steps": [{"label": str(step + 1), "method": "animate", "args": [[str(step)], IMMEDIATE]} for step in steps],
            }
        ],
    )
    base_layout(fig, titles[-1], LAYER_AXIS, "‖∂L/∂W‖", log_y=True)
    fig.update_yaxes(range=_log_range(layers["value"]), col=1)
    fig.update_xaxes(title_text="step", range=[0, max(log.config.steps - 1, 1)], col=2)
    fig.update_yaxes(title_text="", type="log", range=_log_range(curves["loss"]), col=2)
    # the frame with the longest title fits; under the plots, a row each for the legend, the buttons and the slider
    # (a phone's long title would run into a legend at the top)
    fig.update_layout(
        height=780,
        margin={"t": title_margin(*titles) + TITLE_LINE_PX, "b": 310},  # a line more for the panel title
        # paper coordinates, in the row kept for it: the shared LEGEND's container coordinates put it under the slider
        legend={"orientation": "h", "yref": "paper", "x": 0.0, "xanchor": "left", "y": LEGEND_Y, "yanchor": "top"},
    )
    return fig
