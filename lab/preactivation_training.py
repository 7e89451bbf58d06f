"""Post- vs pre-activation units trained (He et al. 2016, arXiv 1603.05027): per-seed verdict, story, figures.

The runs: the page's pair once with each unit, at every seed (one cached `train()` job each, tagged
block and seed). The reading: per seed, the post unit's final training error minus the pre unit's
(error as `resnet_core.evaluation.evaluate` defines it: BN re-estimated on the training set, then eval
mode), for each variant; a unit "trains better" only when that gap exceeds `spread.MARGIN` the same
way on every seed. No streamlit.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from lab.errors import error_method
from lab.preactivation import DASHES, UNIT_NAMES
from lab.spread import MARGIN, Spread, add_band, how_many, seed_summary, spread_of
from lab.style import COLORS, LOSS_TITLE, base_layout
from resnet_core.config import BLOCKS, ExperimentConfig
from resnet_core.specs import VARIANTS


def question(config: ExperimentConfig) -> str:
    """The trained section's heading: the verdict compares final training error after a fixed budget, not speed."""
    return f"Trained: which unit reaches the lower training error in {config.steps} steps?"


def method_note(config: ExperimentConfig) -> str:
    """What the comparison trains and how its error is measured, for the page."""
    return (
        f"Both units trained for {config.steps} steps from each seed, on the same data and minibatches. Training error "
        f"is measured as on every page of this lab: {error_method(config.norm)}. A unit trains better only if it is more than "
        f"{MARGIN:.0%} lower on every seed."
    )


@dataclass(frozen=True)
class TrainingVerdict:
    """One variant's final training error with each unit over the seeds both finished, and the per-seed gap."""

    variant: str
    post: Spread
    pre: Spread
    gap: Spread  # post minus pre, paired by seed: positive where the pre-activation unit trains better

    @property
    def seeds(self) -> int:
        return len(self.gap.values)

    @property
    def outcome(self) -> str:
        """ "pre" or "post" (that unit lower by more than MARGIN on every seed) or "none"."""
        if self.gap.above() == self.seeds:
            return "pre"
        return "post" if self.gap.below() == self.seeds else "none"


def training_verdicts(final: pd.DataFrame) -> dict[str, TrainingVerdict]:
    """Per variant, from ExperimentLog.final_frame() tagged block and seed: only seeds where both units finished."""
    verdicts: dict[str, TrainingVerdict] = {}
    if final.empty or not {"block", "seed"} <= set(final.columns):
        return verdicts
    for variant in VARIANTS:
        part = final[final["variant"] == variant]
        table = part.pivot_table(index="seed", columns="block", values="train_error")
        if not set(BLOCKS) <= set(table.columns):
            continue
        table = table[list(BLOCKS)].dropna()
        if not table.empty:
            verdicts[variant] = TrainingVerdict(
                variant, spread_of(table["post"]), spread_of(table["pre"]), spread_of(table["post"] - table["pre"])
            )
    return verdicts


def training_story(verdicts: dict[str, TrainingVerdict]) -> list[str]:
    """One sentence per variant, residual first, each computed from the per-seed gaps."""
    lines = []
    for variant in sorted(verdicts, key=lambda v: v != "residual"):
        verdict = verdicts[variant]
        n, gap = verdict.seeds, verdict.gap
        if verdict.outcome == "pre":
            reading = f"the pre-activation unit trains better {how_many(n, n)}, by more than {MARGIN:.0%}."
        elif verdict.outcome == "post":
            reading = f"the post-activation unit trains better {how_many(n, n)}, by more than {MARGIN:.0%}."
        else:
            reading = (
                f"no clear difference: pre is lower by more than {MARGIN:.0%} {how_many(gap.above(), n)}, "
                f"post {how_many(gap.below(), n)}."
            )
        lines.append(
            f"**{variant.capitalize()}:** final training error post-activation **{verdict.post.percent()}**, "
            f"pre-activation **{verdict.pre.percent()}**: {reading}"
        )
    return lines


def loss_curves(curves: pd.DataFrame) -> go.Figure:
    """Training loss per step, seed mean and range: colour = net, dash = unit."""
    fig = go.Figure()
    for unit in BLOCKS:
        for variant in VARIANTS:
            part = curves[(curves["block"] == unit) & (curves["variant"] == variant)] if not curves.empty else curves
            if part.empty:
                continue
            name = f"{variant}, {UNIT_NAMES[unit]}"
            add_band(
                fig, seed_summary(part, ["step"], "loss"), "step", COLORS[variant], name, value_format=".3g", dash=DASHES[unit]
            )
    return base_layout(fig, f"{LOSS_TITLE}, mean and range over seeds", "step", "loss", log_y=True)


def final_error_figure(final: pd.DataFrame) -> go.Figure:
    """Final training error per unit: one dot per seed, a bar at the seed mean, colour = net."""
    fig = go.Figure()
    for variant in VARIANTS:
        part = final[final["variant"] == variant]
        x = [UNIT_NAMES[b] for b in part["block"]]
        means = part.groupby("block")["train_error"].mean().reindex(list(BLOCKS)).dropna()
        fig.add_trace(
            go.Bar(
                x=[UNIT_NAMES[b] for b in means.index],
                y=means.tolist(),
                name=f"{variant}: seed mean",
                marker={"color": COLORS[variant], "opacity": 0.45},
                offsetgroup=variant,
                hovertemplate=f"{variant}, %{{x}}<br>mean training error %{{y:.1%}}<extra></extra>",
            )
        )
        fig.add_trace(
            go.Scatter(
                x=x,
                y=part["train_error"],
                mode="markers",
                name=f"{variant}: each seed",
                marker={"color": COLORS[variant], "size": 9},
                offsetgroup=variant,
                customdata=part["seed"],
                hovertemplate=f"{variant}, %{{x}}, seed %{{customdata}}<br>training error %{{y:.1%}}<extra></extra>",
            )
        )
    fig = base_layout(fig, "Final training error with each unit (same data, seeds and budget)", "residual unit", "training error")
    fig.update_layout(barmode="group", scattermode="group")
    fig.update_yaxes(tickformat=".0%", rangemode="tozero")
    return fig
