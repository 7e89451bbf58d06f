"""Figures of the Identity & L2 and Shortcuts pages: DataFrames from their logs -> plotly Figures. Pure functions.

Plain and residual keep the app's two colours (lab.style.COLORS); where a chart compares depths
instead, each depth gets its own colour and the variant moves to the subplot, as in He et al.'s
Figures 1 and 6 (solid = training error, dashed = test error). Norms and ratios use log axes.
"""

from __future__ import annotations

import itertools

import pandas as pd
import plotly.graph_objects as go

from lab.spread import add_band
from lab.style import BLOCK_AXIS, COLORS, FONT_SIZE, LAYER_AXIS, base_layout, l2_label
from resnet_core.config import SHORTCUTS
from resnet_core.results import seed_summary
from resnet_core.specs import VARIANTS

OPTION_DASHES = {"A": "solid", "B": "dash", "C": "dot"}
L2_OPACITY_FLOOR = 0.3


def final_error_vs_l2(final: pd.DataFrame) -> go.Figure:
    """Final training error against L2 strength (categories, so 0 has a place), plain vs residual: seed mean and range."""
    fig = go.Figure()
    for variant in VARIANTS:
        summary = seed_summary(final[final["variant"] == variant], ["l2"], "train_error")
        add_band(fig, summary.assign(l2=[l2_label(v) for v in summary["l2"]]), "l2", COLORS[variant], variant)
    fig = base_layout(fig, "Final training error vs L2 strength (band: range over seeds)", "L2 strength", "training error")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_xaxes(type="category")
    return fig


def _l2_opacity(index: int, count: int) -> float:
    """Stronger L2 draws more opaque, so the sweep reads as one direction."""
    return L2_OPACITY_FLOOR + (1 - L2_OPACITY_FLOOR) * (index + 1) / max(count, 1)


def branch_ratio_figure(blocks: pd.DataFrame) -> go.Figure:
    """Residual nets after training: ||F(x)|| / ||shortcut(x)|| per block, one line (seed mean) and band (range) per L2."""
    fig = go.Figure()
    rows = blocks[(blocks["metric"] == "branch_ratio") & (blocks["variant"] == "residual")].dropna(subset=["value"])
    strengths = sorted(rows["l2"].unique())
    for i, l2 in enumerate(strengths):
        summary = seed_summary(rows[rows["l2"] == l2], ["block"], "value")
        width = 1 + 3 * (i + 1) / len(strengths)
        add_band(
            fig,
            summary,
            "block",
            COLORS["residual"],
            f"L2 {l2_label(l2)}",
            value_format=".3g",
            opacity=_l2_opacity(i, len(strengths)),
            width=width,
        )
    title = "Residual branch size after training: ||F(x)|| / ||shortcut(x)|| (band: range over seeds)"
    return base_layout(fig, title, BLOCK_AXIS, "ratio (log)", log_y=True)


def _per_l2_bands(fig: go.Figure, rows: pd.DataFrame, x: str, labels: str | None = None) -> None:
    """Plain and residual, one line (seed mean) and band (range over seeds) per L2 strength, fainter = weaker."""
    strengths = sorted(rows["l2"].unique())
    for variant in VARIANTS:
        for i, l2 in enumerate(strengths):
            part = rows[(rows["variant"] == variant) & (rows["l2"] == l2)]
            if part.empty:
                continue
            keys = [x, labels] if labels else [x]
            summary = seed_summary(part, keys, "value")
            name = f"{variant}, L2 {l2_label(l2)}"
            hover = list(summary[labels]) if labels else None
            add_band(
                fig,
                summary,
                x,
                COLORS[variant],
                name,
                value_format=".3g",
                opacity=_l2_opacity(i, len(strengths)),
                labels=hover,
                width=2,
            )


def weight_norm_figure(layers: pd.DataFrame) -> go.Figure:
    """||W|| of every main-path layer after training, plain vs residual, per L2 strength: seed mean and range (log y)."""
    fig = go.Figure()
    _per_l2_bands(fig, layers[(layers["metric"] == "weight_norm") & (layers["kind"] == "main")], "layer", "name")
    title = "||W|| per layer after training (fainter = weaker L2; band: range over seeds)"
    return base_layout(fig, title, LAYER_AXIS, "||W|| (log)", log_y=True)


def response_std_figure(blocks: pd.DataFrame) -> go.Figure:
    """Std of each block's branch response z[l+2] (He et al. Fig. 7), plain vs residual, per L2: seed mean and range."""
    fig = go.Figure()
    _per_l2_bands(fig, blocks[blocks["metric"] == "act_std"], "block")
    title = "Std of each block's branch response (fainter = weaker L2; band: range over seeds)"
    return base_layout(fig, title, BLOCK_AXIS, "std (log)", log_y=True)


def block_output_figure(check: pd.DataFrame) -> go.Figure:
    """Std of each block's output a[l+2] over the batch, plain vs residual: the plain stack's signal dies at alpha = 0."""
    fig = go.Figure()
    for variant in VARIANTS:
        part = check[check["run"] == variant]
        fig.add_trace(
            go.Bar(
                x=part["block"],
                y=part["output_std"],
                name=variant,
                marker_color=COLORS[variant],
                hovertemplate=f"{variant}<br>block %{{x}}<br>output std %{{y:.3g}}<extra></extra>",
            )
        )
    fig = base_layout(fig, "Std of each block's output a[l+2]", BLOCK_AXIS, "std")
    fig.update_layout(barmode="group")
    return fig


def transition_gradient_figure(layers: pd.DataFrame) -> go.Figure:
    """Mean ||dL/dW|| over training and seeds per layer for each net (plain, A, B, C; log y); shaded bands mark the transition blocks' layers."""
    grads = layers[layers["metric"] == "grad_norm"]
    fig = go.Figure()
    for layer in sorted(grads.loc[grads["in_transition"], "layer"].unique()):
        fig.add_vrect(x0=layer - 0.5, x1=layer + 0.5, fillcolor="#F0E442", opacity=0.35, line_width=0, layer="below")
    for net, part in grads.groupby("net", sort=False):
        variant, option = part["variant"].iloc[0], net
        name = f"residual {option}" if option in SHORTCUTS else "plain"
        mean = part.groupby(["layer", "name", "kind"])["value"].mean().reset_index()
        for kind, mode, symbol in (("main", "lines+markers", "circle"), ("shortcut", "markers", "diamond-open")):
            rows = mean[mean["kind"] == kind]
            if rows.empty:
                continue
            fig.add_trace(
                go.Scatter(
                    x=rows["layer"],
                    y=rows["value"],
                    mode=mode,
                    customdata=rows["name"],
                    name=name if kind == "main" else f"{name}: W_s",
                    legendgroup=net,
                    line={"color": COLORS[variant], "width": 2, "dash": OPTION_DASHES.get(option, "solid")},
                    marker={"size": 12 if kind == "shortcut" else 6, "symbol": symbol, "color": COLORS[variant]},
                    hovertemplate=f"{name}<br>layer %{{x}}: %{{customdata}}<br>||dL/dW|| %{{y:.3g}}<extra></extra>",
                )
            )
    fig = base_layout(fig, "Mean gradient norm per layer while training", LAYER_AXIS, "||dL/dW|| (log)", log_y=True)
    fig.add_annotation(
        text="yellow: layers of the blocks that change shape",
        xref="paper",
        yref="paper",
        x=0,
        y=1.0,
        xanchor="left",
        yanchor="bottom",
        showarrow=False,
        font={"size": FONT_SIZE - 2, "color": "#8B6914"},
    )
    return fig


def block_diagram(option: str, transition: bool) -> go.Figure:
    """One basic block drawn with its shortcut: what option A/B/C puts on the skip path of this block."""
    fig = go.Figure()
    boxes = [
        ("a[l]", 0.6),
        ("3x3 conv" + ("<br>stride 2" if transition else ""), 2.1),
        ("BN<br>ReLU", 3.5),
        ("3x3 conv", 4.9),
        ("BN", 6.2),
        ("<b>+</b>", 7.5),
        ("ReLU", 8.7),
        ("a[l+2]", 10.0),
    ]
    for text, x in boxes:
        adder = text == "<b>+</b>"
        fig.add_shape(
            type="circle" if adder else "rect",
            x0=x - (0.3 if adder else 0.55),
            x1=x + (0.3 if adder else 0.55),
            y0=-0.3 if adder else -0.4,
            y1=0.3 if adder else 0.4,
            fillcolor="#FFFFFF",
            line={"color": COLORS["residual"] if adder else "#333333", "width": 3 if adder else 2},
        )
        fig.add_annotation(x=x, y=0, text=text, showarrow=False, font={"size": FONT_SIZE + (6 if adder else 0)})
    for (text_from, x_from), (text_to, x_to) in itertools.pairwise(boxes):
        start = x_from + (0.3 if text_from == "<b>+</b>" else 0.55)
        end = x_to - (0.3 if text_to == "<b>+</b>" else 0.55)
        fig.add_annotation(
            x=end,
            y=0,
            ax=start,
            ay=0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowwidth=2,
            text="",
        )
    if option == "A":
        skip = "zero-pad the new channels, subsample by 2" if transition else "identity"
    else:
        stride = ", stride 2" if transition else ""
        skip = f"W_s: 1x1 conv{stride} (+ BN if the net has BN)" if transition or option == "C" else "identity"
    projected = skip.startswith("W_s")
    color = "#B8860B" if transition else COLORS["residual"]
    fig.add_shape(
        type="path",
        path="M 0.6 0.4 L 0.6 1.15 L 7.5 1.15 L 7.5 0.3",
        line={"color": color, "width": 4 if projected else 3, "dash": "solid" if projected else "dot"},
    )
    fig.add_annotation(
        x=4.05,
        y=1.15,
        text=f"<b>shortcut: {skip}</b>",
        showarrow=False,
        bgcolor="#FFFFFF",
        font={"size": FONT_SIZE, "color": color},
    )
    title = f"Option {option}, {'transition block (shape changes)' if transition else 'block inside a stage (shape kept)'}"
    fig.update_layout(
        title={"text": title, "x": 0},
        font={"size": FONT_SIZE},
        height=250,
        showlegend=False,
        margin={"l": 10, "r": 10, "t": 50, "b": 10},
        plot_bgcolor="#FFFFFF",
    )
    fig.update_xaxes(visible=False, range=[-0.1, 10.7])
    fig.update_yaxes(visible=False, range=[-0.6, 1.45])
    return fig
