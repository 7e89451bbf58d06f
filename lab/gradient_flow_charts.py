"""The Gradient Flow page's figures: RunLog frames -> Plotly figures. Pure functions: no streamlit, no training.

Gradient norms always on log axes; colours, titles and layout from lab.style.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.axes import power_label
from lab.style import BLOCK_AXIS, COLORS, LAYER_AXIS, LOSS_TITLE, base_layout, chart_title
from resnet_core.specs import VARIANTS

# Main-path layers as a line; projection shortcuts W_s as separate open diamonds at their block's last layer.
LAYER_STYLES = (("main", "lines+markers", {"size": 6}), ("shortcut", "markers", {"size": 12, "symbol": "diamond-open"}))


def _at_step(frame: pd.DataFrame, step: int) -> pd.DataFrame:
    return frame[frame["step"] == step]


def layer_trace(part: pd.DataFrame, variant: str, kind: str, symbol: str = "‖∂L/∂W‖") -> go.Scatter:
    """One net's main-path layers as a line, or its projections W_s as open diamonds, from rows of one step."""
    mode, marker = {k: (m, mk) for k, m, mk in LAYER_STYLES}[kind]
    part = part.sort_values("layer")
    return go.Scatter(
        x=part["layer"],
        y=part["value"],
        mode=mode,
        name=variant + (" projection W_s" if kind == "shortcut" else ""),
        line={"color": COLORS[variant], "width": 3},
        marker={"color": COLORS[variant], **marker},
        customdata=part["name"],
        legendgroup=variant,
        hovertemplate="layer %{x}: %{customdata}<br>" + symbol + " = %{y:.3g}<extra>" + variant + "</extra>",
    )


def layer_gradient_figure(layers: pd.DataFrame, step: int, *, metric: str = "grad_norm") -> go.Figure:
    """Per-layer ||dL/dW|| of both nets at one step: layers 1 = input side, projections as separate markers."""
    fig = go.Figure()
    rows = _at_step(layers[layers["metric"] == metric], step)
    for variant in VARIANTS:
        mine = rows[rows["variant"] == variant]
        for kind, _, _ in LAYER_STYLES:
            part = mine[mine["kind"] == kind]
            if not part.empty:
                fig.add_trace(layer_trace(part, variant, kind, "‖∂L/∂W‖" if metric == "grad_norm" else "‖W‖"))
    when = "at initialisation" if step == 0 else f"at step {step}"
    title = f"Weight-gradient norm per layer {when}" if metric == "grad_norm" else f"Weight norm per layer {when}"
    return base_layout(fig, title, LAYER_AXIS, "‖∂L/∂W‖" if metric == "grad_norm" else "‖W‖", log_y=True)


def block_gradient_figure(blocks: pd.DataFrame, step: int) -> go.Figure:
    """Per-block ||dL/da[l]||: the backward signal the shortcut protects, block 1 = input side."""
    fig = go.Figure()
    rows = _at_step(blocks[blocks["metric"] == "act_grad_norm"], step)
    for variant in VARIANTS:
        part = rows[rows["variant"] == variant].sort_values("block")
        fig.add_trace(
            go.Scatter(
                x=part["block"],
                y=part["value"],
                mode="lines+markers",
                name=variant,
                line={"color": COLORS[variant], "width": 3},
                marker={"color": COLORS[variant], "size": 6},
                hovertemplate="block %{x}<br>‖∂L/∂a‖ = %{y:.3g}<extra>" + variant + "</extra>",
            )
        )
    when = "at initialisation" if step == 0 else f"at step {step}"
    return base_layout(fig, f"Activation-gradient norm per block {when}", BLOCK_AXIS, "‖∂L/∂a[l]‖", log_y=True)


def loss_figure(curves: pd.DataFrame) -> go.Figure:
    """Training loss per step for both nets (log y: early and late progress both stay visible)."""
    fig = go.Figure()
    for variant in VARIANTS:
        part = curves[curves["variant"] == variant]
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["loss"],
                mode="lines",
                name=variant,
                line={"color": COLORS[variant], "width": 3},
                hovertemplate="step %{x}<br>loss %{y:.3g}<extra>" + variant + "</extra>",
            )
        )
    return base_layout(fig, LOSS_TITLE, "step", "cross-entropy loss", log_y=True)


ERROR_KEY = "thin = each minibatch, thick = whole training set, open circles = test set"


def error_figure(curves: pd.DataFrame, evals: pd.DataFrame) -> go.Figure:
    """Minibatch error (thin), full training error (solid markers) and test error (open markers) for both nets.

    The legend names the two nets (each entry toggles all three of its curves) and the title says which curve is which:
    six entries took three legend rows, half the chart's height on a projector."""
    fig = go.Figure()
    for variant in VARIANTS:
        color = COLORS[variant]
        part = curves[curves["variant"] == variant]
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["batch_error"],
                mode="lines",
                name=f"{variant}: minibatch",
                line={"color": color, "width": 1},
                opacity=0.45,
                legendgroup=variant,
                showlegend=False,
                hovertemplate="step %{x}<br>minibatch error %{y:.1%}<extra>" + variant + "</extra>",
            )
        )
        points = evals[evals["variant"] == variant]
        fig.add_trace(
            go.Scatter(
                x=points["step"],
                y=points["train_error"],
                mode="lines+markers",
                name=variant,
                line={"color": color, "width": 3},
                marker={"size": 9},
                legendgroup=variant,
                hovertemplate="step %{x}<br>training error %{y:.1%}<extra>" + variant + "</extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=points["step"],
                y=points["test_error"],
                mode="markers",
                name=f"{variant}: test set",
                marker={"size": 10, "symbol": "circle-open", "color": color, "line": {"width": 2}},
                legendgroup=variant,
                showlegend=False,
                hovertemplate="step %{x}<br>test error %{y:.1%}<extra>" + variant + "</extra>",
            )
        )
    fig = base_layout(fig, chart_title("Training and test error", ERROR_KEY), "step", "error")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig


HEATMAP_TITLES = {  # metric -> (symbol, title) of a layer x step heatmap
    "grad_norm": ("‖∂L/∂W‖", "Weight-gradient norm, layer x step (one shared log colour scale)"),
    "relative_update": ("lr·‖g‖/‖W‖", "Relative update lr·‖g‖/‖W‖, layer x step (one shared log colour scale)"),
}


def gradient_heatmap(layers: pd.DataFrame, metric: str = "grad_norm") -> go.Figure:
    """Layer x step heatmap of a per-layer metric (default ||dL/dW||) per variant, on one log colour scale (main path)."""
    symbol, title = HEATMAP_TITLES[metric]
    rows = layers[(layers["metric"] == metric) & (layers["kind"] == "main") & (layers["value"] > 0)]
    logs = np.log10(rows["value"].astype(float))
    finite = logs[np.isfinite(logs)]
    low, high = (float(finite.min()), float(finite.max())) if len(finite) else (-1.0, 1.0)
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=list(VARIANTS))
    for col, variant in enumerate(VARIANTS, start=1):
        part = rows[rows["variant"] == variant]
        table = part.pivot_table(index="layer", columns="step", values="value", aggfunc="first").sort_index()
        fig.add_trace(
            go.Heatmap(
                z=np.log10(table.to_numpy(dtype=float)),
                x=table.columns,
                y=table.index,
                coloraxis="coloraxis",
                customdata=table.to_numpy(dtype=float),
                hovertemplate=f"layer %{{y}}, step %{{x}}<br>{symbol} = %{{customdata:.3g}}<extra>{variant}</extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="step", row=1, col=col)
    ticks = list(range(math.floor(low), math.ceil(high) + 1))
    colorbar = {"title": {"text": symbol}, "tickvals": ticks, "ticktext": [power_label(t) for t in ticks]}
    fig.update_layout(coloraxis={"colorscale": "Viridis", "cmin": low, "cmax": high, "colorbar": colorbar})
    base_layout(fig, title, "step", LAYER_AXIS)
    fig.update_xaxes(title_text="step")
    fig.update_yaxes(title_text=None, col=2)
    return fig


CLASS_COLORS = ("#009E73", "#CC79A7", "#F0E442")  # Okabe-Ito hues unused by the two variants


def boundary_figure(grid: dict) -> go.Figure:
    """Each trained net's predicted class over the plane (shaded) with the data on top, plain left, residual right."""
    fig = make_subplots(
        rows=1,
        cols=2,
        shared_yaxes=True,
        horizontal_spacing=0.04,
        subplot_titles=[f"<span style='color:{COLORS[v]}'>{v}</span>" for v in VARIANTS],
    )
    points = grid["points"]
    labels = np.asarray(points["label"])
    n_classes = max(int(labels.max()) + 1, 2)
    palette = CLASS_COLORS[:n_classes]
    scale = []  # a stepped colour scale: each class one flat band
    for k, color in enumerate(palette):
        scale += [(k / n_classes, color), ((k + 1) / n_classes, color)]
    for col, variant in enumerate(VARIANTS, start=1):
        classes = grid["classes"].get(variant)
        if classes is not None:
            fig.add_trace(
                go.Heatmap(
                    x=grid["x"],
                    y=grid["y"],
                    z=classes,
                    zmin=-0.5,
                    zmax=n_classes - 0.5,
                    colorscale=scale,
                    opacity=0.35,
                    showscale=False,
                    hoverinfo="skip",
                ),
                row=1,
                col=col,
            )
        else:
            fig.add_annotation(text="diverged: no boundary", showarrow=False, row=1, col=col, x=0, y=0, font={"size": 20})
        for split, symbol in (("train", "circle"), ("test", "x")):
            chosen = np.asarray(points["split"]) == split
            fig.add_trace(
                go.Scatter(
                    x=np.asarray(points["x"])[chosen],
                    y=np.asarray(points["y"])[chosen],
                    mode="markers",
                    showlegend=False,
                    marker={
                        "color": [palette[k] for k in labels[chosen]],
                        "symbol": symbol,
                        "size": 7,
                        "line": {"width": 1, "color": "#333"},
                    },
                    hovertemplate=f"{split} point<br>(%{{x:.2f}}, %{{y:.2f}})<extra></extra>",
                ),
                row=1,
                col=col,
            )
    base_layout(fig, "Decision boundary after training (shaded: predicted class; dots: training data, x: test data)", "x₁", "x₂")
    fig.update_xaxes(title_text="x₁")
    fig.update_yaxes(title_text=None, col=2)
    return fig


def signal_figure(blocks: pd.DataFrame, steps: list[int]) -> go.Figure:
    """Mean square of each block's output a[l+2] (the forward signal), plain vs residual, at init (dotted) and later."""
    fig = go.Figure()
    rows = blocks[blocks["metric"] == "out_ms"]
    for step in steps:
        for variant in VARIANTS:
            part = _at_step(rows[rows["variant"] == variant], step).sort_values("block")
            when = "init" if step == 0 else f"step {step}"
            fig.add_trace(
                go.Scatter(
                    x=part["block"],
                    y=part["value"],
                    mode="lines+markers",
                    name=f"{variant}, {when}",
                    line={"color": COLORS[variant], "width": 3, "dash": "dot" if step == 0 else "solid"},
                    marker={"color": COLORS[variant], "size": 6},
                    hovertemplate=f"block %{{x}}<br>mean a² = %{{y:.3g}}<extra>{variant}, {when}</extra>",
                )
            )
    fig = base_layout(fig, "Forward signal: mean square of each block's output", BLOCK_AXIS, "mean a[l+2]² (log)", log_y=True)
    return fig
