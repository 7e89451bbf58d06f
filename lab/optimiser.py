"""What the optimiser does with a gradient: relative updates, effective gradients and weight norms, per layer.

For a layer followed by BatchNorm, ||dL/dW|| is not a property of the function the net computes:
scaling W by c leaves the outputs unchanged and divides the gradient by c. What the optimiser
feels is the *relative* update lr·||g||/||W|| (the SGD step before momentum, as a fraction of
the weight), and ||g||·||W||, which scaling leaves unchanged. At initialisation a deep plain net's
relative updates are far above 1: its first steps blow its input-side weights up, and from then
on their relative updates are tiny, so those layers freeze (Yang et al. 2019: the gradient
explosion *is* the optimisation difficulty). `optimiser_story` says this only when the run's
own numbers show it.
"""

from __future__ import annotations

import pandas as pd
import plotly.graph_objects as go

from lab.style import COLORS, LAYER_AXIS, base_layout
from resnet_core.specs import VARIANTS

GROWTH = 10.0  # ||W|| grown this many times counts as blown up
FROZEN = 1e-2  # a relative update this many times below its initial value counts as frozen


def optimiser_frame(layers: pd.DataFrame, lr: float) -> pd.DataFrame:
    """Long rows (variant, step, layer, name, kind, metric, value) of relative_update = lr·||g||/||W||,
    effective_grad = ||g||·||W|| and weight_norm, from a RunLog's layer frame."""
    keys = ["variant", "step", "layer", "name", "kind"]
    if layers.empty or not {"grad_norm", "weight_norm"} <= set(layers["metric"]):  # stopped before its first measurement
        return pd.DataFrame(columns=[*keys, "metric", "value"])
    wide = layers.pivot_table(index=keys, columns="metric", values="value").reset_index()
    out = pd.DataFrame(
        {
            "relative_update": lr * wide["grad_norm"] / wide["weight_norm"],
            "effective_grad": wide["grad_norm"] * wide["weight_norm"],
            "weight_norm": wide["weight_norm"],
        }
    )
    return pd.concat([wide[keys], out], axis=1).melt(id_vars=keys, var_name="metric", value_name="value")


# metric -> (what it is, its y axis title); the per-layer figures of the optimiser's view
LAYER_VIEWS = {
    "relative_update": ("lr·‖g‖/‖W‖", "Relative update", "relative update (log)"),
    "effective_grad": ("‖g‖·‖W‖", "Effective gradient", "‖g‖·‖W‖ (log)"),
}


def layer_figure(frame: pd.DataFrame, metric: str = "relative_update", step: int = 0) -> go.Figure:
    """One LAYER_VIEWS metric per main-path layer at one step, plain vs residual (log y). For the relative update, 1
    (dotted) is a step as large as the weight; the effective gradient is what W -> cW before a BN leaves unchanged."""
    symbol, name, y_title = LAYER_VIEWS[metric]
    fig = go.Figure()
    rows = frame[(frame["metric"] == metric) & (frame["step"] == step) & (frame["kind"] == "main")]
    for variant in VARIANTS:
        part = rows[rows["variant"] == variant].sort_values("layer")
        fig.add_trace(
            go.Scatter(
                x=part["layer"],
                y=part["value"],
                mode="lines+markers",
                name=variant,
                line={"color": COLORS[variant], "width": 3},
                customdata=part["name"],
                hovertemplate=f"{variant}<br>layer %{{x}}: %{{customdata}}<br>{symbol} %{{y:.3g}}<extra></extra>",
            )
        )
    if metric == "relative_update":
        fig.add_hline(y=1, line={"color": "#555555", "dash": "dot"})
    when = "at initialisation" if step == 0 else f"at step {step}"
    return base_layout(fig, f"{name} {symbol} per layer {when}", LAYER_AXIS, y_title, log_y=True)


def weight_norm_figure(frame: pd.DataFrame) -> go.Figure:
    """||W|| of the first layer over the steps, plain vs residual (log y): the blow-up the first updates cause."""
    fig = go.Figure()
    rows = frame[(frame["metric"] == "weight_norm") & (frame["layer"] == 1)]
    for variant in VARIANTS:
        part = rows[rows["variant"] == variant].sort_values("step")
        fig.add_trace(
            go.Scatter(
                x=part["step"],
                y=part["value"],
                mode="lines+markers",
                name=variant,
                line={"color": COLORS[variant], "width": 3},
                hovertemplate=f"{variant}<br>step %{{x}}<br>‖W‖ of layer 1 %{{y:.3g}}<extra></extra>",
            )
        )
    return base_layout(fig, "‖W‖ of the first layer during training", "step", "‖W‖ (log)", log_y=True)


def _first_layer(frame: pd.DataFrame, variant: str, metric: str) -> pd.Series:
    rows = frame[(frame["variant"] == variant) & (frame["metric"] == metric) & (frame["layer"] == 1)]
    return rows.set_index("step")["value"].sort_index()


def optimiser_story(frame: pd.DataFrame, norm: str = "batch") -> list[str]:
    """The causal story in this run's numbers, told only as far as they show it; BN's part only for a net with BN."""
    if frame.empty or frame["step"].max() == 0:
        return []
    at_init = frame[(frame["step"] == 0) & (frame["metric"] == "relative_update") & (frame["kind"] == "main")]
    worst = at_init.groupby("variant")["value"].max()
    first = {v: _first_layer(frame, v, "relative_update") for v in VARIANTS}
    weights = {v: _first_layer(frame, v, "weight_norm") for v in VARIANTS}
    if any(len(s) < 2 for s in (*first.values(), *weights.values())):
        return []
    lines = [
        f"**At initialisation** one SGD step would move the plain net's first layer by **{first['plain'].iloc[0]:.3g}x** "
        f"its own size (worst layer {worst['plain']:.3g}x); the residual net's by {first['residual'].iloc[0]:.3g}x "
        f"(worst layer {worst['residual']:.3g}x)."
    ]
    for variant in VARIANTS:
        w, r = weights[variant], first[variant]
        growth, settled = w.iloc[-1] / w.iloc[0], int(w.index[(w >= 0.9 * w.iloc[-1]).argmax()])
        if growth >= GROWTH and r.iloc[-1] <= FROZEN * r.iloc[0] and norm != "batch":
            lines.append(
                f"**{variant.capitalize()}:** ‖W‖ of the first layer grew from {w.iloc[0]:.3g} to {w.iloc[-1]:.3g} "
                f"(x{growth:.3g}) and its relative update fell from {r.iloc[0]:.3g} to {r.iloc[-1]:.1e}: this layer has "
                "all but stopped moving. Without BatchNorm a larger weight does not by itself shrink the gradient, so "
                "this run's numbers do not say why."
            )
        elif growth >= GROWTH and r.iloc[-1] <= FROZEN * r.iloc[0]:
            lines.append(
                f"**{variant.capitalize()}:** ‖W‖ of the first layer grew from {w.iloc[0]:.3g} to {w[settled]:.3g} by step "
                f"{settled} ({w.iloc[-1]:.3g} at step {int(w.index[-1])}, x{growth:.3g}), and its relative update fell from "
                f"{r.iloc[0]:.3g} to {r.iloc[-1]:.1e}: with BatchNorm a larger weight gets a proportionally smaller gradient, so "
                'this layer has frozen. The raw gradient heatmap shows that as "vanishing"; its cause is the weight '
                "blow-up of the first steps."
            )
        else:
            lines.append(
                f"**{variant.capitalize()}:** ‖W‖ of the first layer went from {w.iloc[0]:.3g} to {w.iloc[-1]:.3g} "
                f"(x{growth:.3g}) and its relative update from {r.iloc[0]:.3g} to {r.iloc[-1]:.3g}: no blow-up and freeze."
            )
    return lines
