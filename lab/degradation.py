"""Degradation (He et al. 2015, Figs. 1 and 6): deeper plain nets train worse; residual nets don't.

The runs: the plain/residual pair at each depth and seed, identical data and budget (each one
`train()` job, shared with the Gradient Flow page's cache). The reading: per seed, the deep net's
final training error minus the shallow one's, for each variant; the sentences say on how many
seeds a gap exceeds `spread.MARGIN`, so "that is degradation" is never a one-seed claim.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from lab.spread import MARGIN, Spread, add_band, how_many, spread_of
from lab.style import COLORS, FONT_SIZE, base_layout
from resnet_core.results import ExperimentLog, RunLog, gradient_ratio, seed_summary
from resnet_core.specs import VARIANTS

SAME_SIZE = "ratio 1: same size at both ends"

DEGRADATION_DEPTHS = (8, 20, 32, 44, 56, 110)
DEFAULT_DEPTHS = (20, 56)  # what the page compares before a visitor chooses
# Depth runs from green (shallow) to purple (deep): ordered, and never the vermillion/blue that mean plain/residual.
DEPTH_COLORS = {8: "#7FBF7B", 20: "#1B7837", 32: "#C2A5CF", 44: "#9970AB", 56: "#762A83", 110: "#40004B"}


def depth_color(depth: int) -> str:
    return DEPTH_COLORS.get(int(depth), "#777777")


def init_ratios(log: ExperimentLog) -> pd.DataFrame:
    """depth, seed, variant, ratio: `results.gradient_ratio` at initialisation (step 0) of every run."""
    layers = log.layer_frame()
    grads = layers[(layers["step"] == 0) & (layers["metric"] == "grad_norm") & (layers["kind"] == "main")]
    rows = [
        {"depth": depth, "seed": seed, "variant": variant, "ratio": gradient_ratio(part.sort_values("layer")["value"].tolist())}
        for (depth, seed, variant), part in grads.groupby(["depth", "seed", "variant"], sort=True)
    ]
    return pd.DataFrame(rows, columns=["depth", "seed", "variant", "ratio"])


@dataclass(frozen=True)
class Verdict:
    """Deep minus shallow final training error, per seed, for each variant (seeds finished at both depths)."""

    shallow: int
    deep: int
    errors: dict[tuple[str, int], Spread]  # (variant, depth) -> final training error over seeds
    gaps: dict[str, Spread]  # variant -> deep minus shallow, paired by seed

    @property
    def seeds(self) -> int:
        return len(self.gaps["plain"].values)

    @property
    def plain_degrades(self) -> bool:
        """The deeper plain net trains worse on every seed."""
        return self.gaps["plain"].above() == self.seeds

    @property
    def residual_fixes(self) -> bool:
        """On every seed the residual gap is below MARGIN and below the plain gap of that seed."""
        pairs = zip(self.gaps["residual"].values, self.gaps["plain"].values, strict=True)
        return all(r <= MARGIN and r < p for r, p in pairs)


def degradation_verdict(final: pd.DataFrame) -> Verdict | None:
    """Compare the shallowest and deepest depth; None until both variants of both finished on a common seed."""
    table = final.pivot_table(index="seed", columns=["variant", "depth"], values="train_error").dropna()
    depths = sorted({d for _, d in table.columns})
    if len(depths) < 2 or table.empty:
        return None
    shallow, deep = depths[0], depths[-1]
    if any((v, d) not in table.columns for v in VARIANTS for d in (shallow, deep)):
        return None
    table = table[[(v, d) for v in VARIANTS for d in (shallow, deep)]].dropna()
    errors = {(v, d): spread_of(table[(v, d)]) for v in VARIANTS for d in (shallow, deep)}
    gaps = {v: spread_of(table[(v, deep)] - table[(v, shallow)]) for v in VARIANTS}
    return Verdict(shallow, deep, errors, gaps)


def verdict_lines(verdict: Verdict | None) -> list[str]:
    """The measured story in sentences, each computed from the per-seed gaps."""
    if verdict is None:
        return []
    s, d, n = verdict.shallow, verdict.deep, verdict.seeds
    plain, residual = verdict.gaps["plain"], verdict.gaps["residual"]
    worse = plain.above()
    if verdict.plain_degrades:
        plain_text = f"the deeper plain net trains worse {how_many(worse, n)}. That is degradation, on its own training data: not overfitting."
    elif worse:
        plain_text = f"the deeper plain net is worse {how_many(worse, n)} only: within seed noise at these settings."
    else:
        plain_text = f"no degradation at these settings (deeper minus shallower: {plain.percent()})."
    lines = [
        f"**Plain:** {d} layers end at **{verdict.errors[('plain', d)].percent()}** training error, {s} layers at "
        f"**{verdict.errors[('plain', s)].percent()}**: {plain_text}"
    ]
    if verdict.residual_fixes and verdict.plain_degrades:
        # residual_fixes bounds the deeper net's excess only: a shallow net left far behind is not "within"
        within = all(abs(r) <= MARGIN for r in residual.values)
        close = f"within {MARGIN:.0%} of each other" if within else f"the deeper one is at most {MARGIN:.0%} worse"
        residual_text = f"{close} {how_many(n, n)}: the shortcut removes the gap."
    elif not residual.above() and not worse:
        residual_text = "the deeper one is worse on no seed either: there is no gap here for the shortcut to remove."
    elif residual.above() < worse:
        residual_text = f"the deeper one is worse {how_many(residual.above(), n)}, fewer than the plain nets."
    else:
        residual_text = f"the deeper one is worse {how_many(residual.above(), n)}: no better than plain here."
    lines.append(
        f"**Residual:** {d} layers **{verdict.errors[('residual', d)].percent()}**, {s} layers "
        f"**{verdict.errors[('residual', s)].percent()}**: {residual_text}"
    )
    return lines


def deepest_run(log: ExperimentLog) -> tuple[int, int, RunLog] | None:
    """(depth, seed, RunLog) of the deepest finished pair at its first seed: the run the optimiser story reads."""
    done = [(dict(key), run) for key, run in log.runs.items() if run.finished]
    if not done:
        return None
    tags, run = min(done, key=lambda item: (-item[0]["depth"], item[0]["seed"]))
    return tags["depth"], tags["seed"], run


def degradation_curves(evals: pd.DataFrame) -> go.Figure:
    """Training error (solid, band = range over seeds) and test error (dashed, seed mean) vs step, one colour per depth.

    Plain on the left, residual on the right, as in He et al. Fig. 6. Both errors are full
    evaluations (`evaluation.evaluate`): the definition of every number on the page.
    """
    fig = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04, subplot_titles=("plain", "residual"))
    for col, variant in enumerate(VARIANTS, start=1):
        part = evals[evals["variant"] == variant]
        for depth, runs in part.groupby("depth", sort=True):
            color, name = depth_color(depth), f"{depth} layers"
            add_band(fig, seed_summary(runs, ["step"], "train_error"), "step", color, name, row=1, col=col, showlegend=col == 1)
            test = seed_summary(runs, ["step"], "test_error")
            fig.add_trace(
                go.Scatter(
                    x=test["step"],
                    y=test["mean"],
                    mode="lines",
                    line={"color": color, "width": 2, "dash": "dash"},
                    name=f"{name}: test",
                    legendgroup=name,
                    showlegend=False,
                    hovertemplate=f"{variant}-{depth}<br>step %{{x}}<br>test error %{{y:.1%}} (seed mean)<extra></extra>",
                ),
                row=1,
                col=col,
            )
    fig = base_layout(fig, "Error while training: solid = training set (band: range over seeds), dashed = test", "step", "error")
    fig.update_yaxes(tickformat=".0%", range=[0, 1])
    fig.update_yaxes(title_text="", col=2)
    fig.update_annotations(font={"size": FONT_SIZE + 2})
    for annotation, variant in zip(fig.layout.annotations, VARIANTS, strict=True):
        annotation.font.color = COLORS[variant]
    return fig


def final_error_vs_depth(final: pd.DataFrame) -> go.Figure:
    """Final training error against depth (seed mean, band = range, dots = seeds): degradation is the plain line rising."""
    fig = go.Figure()
    for variant in VARIANTS:
        part = final[final["variant"] == variant]
        add_band(fig, seed_summary(part, ["depth"], "train_error"), "depth", COLORS[variant], variant)
        fig.add_trace(
            go.Scatter(
                x=part["depth"],
                y=part["train_error"],
                mode="markers",
                marker={"color": COLORS[variant], "size": 7, "opacity": 0.6},
                name=f"{variant}: each seed",
                legendgroup=variant,
                showlegend=False,
                customdata=part["seed"],
                hovertemplate=f"{variant}-%{{x}}, seed %{{customdata}}<br>training error %{{y:.1%}}<extra></extra>",
            )
        )
    fig = base_layout(fig, "Final training error vs depth (same data, same budget)", "depth (weight layers)", "training error")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    fig.update_xaxes(tickvals=sorted(final["depth"].unique().tolist()) if len(final) else None)
    return fig


def _label_positions(depths: list[int], means: pd.Series, others: pd.Series, first: bool) -> list[str]:
    """Where each value label sits: above its point where this net's value is the higher one at that depth, below
    where it is the lower one (two labels at one depth never overlap), and inward at the two ends of the axis."""
    low, high = (min(depths), max(depths)) if depths else (0, 0)
    positions = []
    for depth, mean in zip(depths, means, strict=True):
        other = others.get(depth, -math.inf)
        upper = mean > other or (mean == other and first)
        inward = "center" if low == high else "right" if depth == low else "left" if depth == high else "center"
        positions.append(f"{'top' if upper else 'bottom'} {inward}")
    return positions


def init_ratio_figure(ratios: pd.DataFrame) -> go.Figure:
    """First / last hidden layer gradient ratio at initialisation per depth (log, seed mean and range): above 1 is growth."""
    fig = go.Figure()
    summaries = {v: seed_summary(ratios[ratios["variant"] == v], ["depth"], "ratio") for v in VARIANTS}
    for variant in VARIANTS:
        summary = summaries[variant]
        (other,) = (s.set_index("depth")["mean"] for v, s in summaries.items() if v != variant)
        add_band(fig, summary, "depth", COLORS[variant], variant, value_format=".3g")
        fig.add_trace(
            go.Scatter(
                x=summary["depth"],
                y=summary["mean"],
                mode="text",
                text=[f"{r:.3g}" for r in summary["mean"]],
                textposition=_label_positions(summary["depth"].tolist(), summary["mean"], other, variant == VARIANTS[0]),
                textfont={"color": COLORS[variant], "size": FONT_SIZE},
                showlegend=False,
                hoverinfo="skip",
            )
        )
    # the reference line named in the legend: as a label on the plot it sat on a line or a value wherever it went
    span = [min(ratios["depth"]), max(ratios["depth"])] if len(ratios) else []
    fig.add_trace(
        go.Scatter(
            x=span,
            y=[1.0] * len(span),
            mode="lines",
            line={"color": "#888888", "dash": "dot", "width": 2},
            name=SAME_SIZE,
            hoverinfo="skip",
        )
    )
    fig = base_layout(
        fig, "At initialisation: first-layer / last-layer gradient norm", "depth (weight layers)", "ratio (log)", log_y=True
    )
    fig.update_xaxes(tickvals=sorted(ratios["depth"].unique().tolist()) if len(ratios) else None)
    return fig
