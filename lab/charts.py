"""DataFrame -> plotly Figure builders. Pure functions: no streamlit, no training.

One colour per variant across the whole app (Okabe-Ito, readable by colour-blind viewers
and on a washed-out projector); gradient norms always on log axes.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.axes import power_label
from resnet_core.models import VARIANTS
from resnet_core.results import RunLog


def l2_label(l2: float) -> str:
    """0, 1e-4, 0.01: short L2 strengths for file names, captions and the sweep's categories (a log axis can't show 0)."""
    if l2 == 0:
        return "0"
    text = f"{l2:.0e}" if l2 < 0.01 else f"{l2:g}"
    return text.replace("e-0", "e-").replace("e+0", "e")


COLORS = {"plain": "#D55E00", "residual": "#0072B2"}
FONT_SIZE = 16
# Main-path layers as a line; projection shortcuts W_s as separate open diamonds at their block's last layer.
LAYER_STYLES = (("main", "lines+markers", {"size": 6}), ("shortcut", "markers", {"size": 12, "symbol": "diamond-open"}))


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


def ratio_phrase(ratio: float) -> str:
    """A first/last gradient ratio as people say it: "674 (grows toward the input)" or "1/480 (shrinks ...)"."""
    if ratio == 0:
        return "0 (the input side's gradient underflowed: vanished)"
    if not math.isfinite(ratio) or ratio < 0:
        return "not measurable"
    if ratio >= 1:
        trend = "grows toward the input" if ratio >= 2 else "about flat"
        return f"{ratio:.3g} ({trend})"
    trend = "shrinks toward the input" if ratio <= 0.5 else "about flat"
    return f"1/{1 / ratio:.3g} ({trend})"


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
    return base_layout(fig, title, "layer (1 = input side)", "‖∂L/∂W‖" if metric == "grad_norm" else "‖W‖", log_y=True)


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
    return base_layout(fig, f"Activation-gradient norm per block {when}", "block (1 = input side)", "‖∂L/∂a[l]‖", log_y=True)


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
    return base_layout(fig, "Training loss (minibatch)", "step", "cross-entropy loss", log_y=True)


def error_figure(curves: pd.DataFrame, evals: pd.DataFrame) -> go.Figure:
    """Minibatch error (thin), full training error (solid markers) and test error (open markers) for both nets."""
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
                hovertemplate="step %{x}<br>minibatch error %{y:.1%}<extra>" + variant + "</extra>",
            )
        )
        points = evals[evals["variant"] == variant]
        fig.add_trace(
            go.Scatter(
                x=points["step"],
                y=points["train_error"],
                mode="lines+markers",
                name=f"{variant}: training set",
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
                hovertemplate="step %{x}<br>test error %{y:.1%}<extra>" + variant + "</extra>",
            )
        )
    fig = base_layout(fig, "Training and test error", "step", "error")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    # six entries: below the plot, where they can wrap without covering the title
    fig.update_layout(legend={"orientation": "h", "yanchor": "top", "y": -0.22, "xanchor": "left", "x": 0.0}, margin={"b": 10})
    return fig


def gradient_heatmap(layers: pd.DataFrame) -> go.Figure:
    """Layer x step heatmap of ||dL/dW|| per variant, both on one log colour scale (main-path layers)."""
    rows = layers[(layers["metric"] == "grad_norm") & (layers["kind"] == "main") & (layers["value"] > 0)]
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
                hovertemplate="layer %{y}, step %{x}<br>‖∂L/∂W‖ = %{customdata:.3g}<extra>" + variant + "</extra>",
            ),
            row=1,
            col=col,
        )
        fig.update_xaxes(title_text="step", row=1, col=col)
    ticks = list(range(math.floor(low), math.ceil(high) + 1))
    colorbar = {"title": {"text": "‖∂L/∂W‖"}, "tickvals": ticks, "ticktext": [power_label(t) for t in ticks]}
    fig.update_layout(coloraxis={"colorscale": "Viridis", "cmin": low, "cmax": high, "colorbar": colorbar})
    base_layout(fig, "Weight-gradient norm, layer x step (one shared log colour scale)", "step", "layer (1 = input side)")
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


def block_ratio(blocks: pd.DataFrame, variant: str, metric: str, step: int = 0) -> float:
    """First block / last block of a per-block metric: above 1 it is larger at the input side."""
    part = blocks[(blocks["variant"] == variant) & (blocks["metric"] == metric) & (blocks["step"] == step)].sort_values("block")
    if len(part) < 2 or not part["value"].iloc[-1]:
        return math.nan
    return float(part["value"].iloc[0] / part["value"].iloc[-1])


def gradient_reading(log: RunLog, step: int = 0, when: str | None = None) -> str:
    """The one-line reading under the charts, every number measured: "... plain 674 (grows ...), residual 4.83 (...)"."""
    when = ("at initialisation" if step == 0 else f"at step {step}") if when is None else when
    parts = [f"{variant} {ratio_phrase(log.ratio(variant, step))}" for variant in VARIANTS if variant in log.meta]
    return f"First / last layer gradient ratio{' ' + when if when else ''}: " + ", ".join(parts) + "."


def training_reading(log: RunLog) -> str:
    """The trained pair in one line, from each net's last full evaluation (a diverged net's ends early)."""
    evals = log.eval_frame()
    if evals.empty:
        return ""
    end = int(evals["step"].max())
    parts = []
    for variant in VARIANTS:
        rows = evals[evals["variant"] == variant]
        if rows.empty:
            continue
        last = rows.iloc[-1]
        when = "" if int(last["step"]) == end else f" at step {int(last['step'])}"
        parts.append(f"{variant} {last['train_error']:.1%} (test {last['test_error']:.1%}){when}")
    return f"Error after {end} steps, training set: " + ", ".join(parts) + "."


def flow_story(log: RunLog) -> list[str]:
    """The "what am I looking at" paragraphs for step 0, true to docs/SCIENCE_NOTES.md 1 and quoting this run's numbers."""
    config, blocks = log.config, log.block_frame()
    plain, residual = log.ratio("plain"), log.ratio("residual")
    lines = [
        "Both nets have the same layers and start from the same weights; the residual net adds a shortcut around "
        "every two layers, a[l+2] = g(z[l+2] + a[l]). Each point is one layer's gradient on the first minibatch, "
        "before any training. The gradient starts at the loss (right) and travels back toward the input (left)."
    ]
    if config.norm == "batch":
        if plain >= 2:
            lines.append(
                f"**With BatchNorm, as here, the plain net's gradients grow toward the input instead of vanishing**: "
                f"first / last ratio {ratio_phrase(plain)}. The popular story says they vanish; the measurement says "
                "otherwise (Yang et al. 2019 predict about x1.2 per layer). He et al. (2015) found deep plain nets "
                "still train worse: an optimisation difficulty, not vanishing gradients. Press Train to see it."
            )
        else:
            lines.append(f"With BatchNorm at this setting the plain net's first / last ratio is {ratio_phrase(plain)}.")
    else:
        backward = block_ratio(blocks, "plain", "act_grad_norm")
        forward = block_ratio(blocks, "plain", "act_std")
        lines.append(
            f"**Without normalisation** the backward signal through the plain stack, ‖∂L/∂a‖ (right chart), goes "
            f"from the last block to the first by a factor {ratio_phrase(backward)}: the classic vanishing "
            "gradient when that factor is far below 1."
        )
        if backward < 0.01 and 0.1 <= plain <= 10:
            lines.append(
                f"The weight gradients (left chart) hide it: ‖∂L/∂W‖ is the backward signal times the layer's input, "
                f"and the forward response shrinks through the stack too (block 1 / last block {forward:.3g}), so the "
                f"two cancel to a first / last ratio of {ratio_phrase(plain)}. Read the block chart for the vanishing."
            )
    lines.append(
        f"The residual net: first / last ratio {ratio_phrase(residual)}; the shortcut adds an identity path that "
        "carries the gradient past every block."
    )
    return lines
