"""Identity & L2: why a residual block can fall back to the identity and a plain block can't, measured.

1. Scale every block's last layer by alpha (`lab.nets.scale_branches`, in a worker). At alpha = 0
   each identity residual block outputs exactly its input and the plain stack a constant
   (`lab.nets.identity_check`); then the pair trains from there (`alpha_records`, the engine's loop).
2. An L2 sweep over seeds: final training error, the residual branch ratio ||F(x)|| / ||shortcut(x)||
   and the branch response std (He et al. Fig. 7), with sentences computed from them (`sweep_lines`).
"""

from __future__ import annotations

import pandas as pd

from lab.charts import l2_label
from lab.spread import MARGIN, how_many, spread_of
from resnet_core.results import ExperimentLog
from resnet_core.specs import VARIANTS

L2_SWEEP = (0.0, 1e-4, 1e-3, 1e-2, 3e-2, 0.1)
ALPHAS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0)  # small to large, as a slider reads


def alpha_lines(log: ExperimentLog) -> list[str]:
    """Final training error of both nets trained from the scaled weights, over seeds."""
    final = log.final_frame()
    if set(final.get("variant", [])) != set(VARIANTS):
        return []
    errors = {v: spread_of(final.loc[final["variant"] == v, "train_error"]) for v in VARIANTS}
    gaps = spread_of(final.pivot_table(index="seed", columns="variant", values="train_error").dropna().eval("plain - residual"))
    n = len(gaps.values)
    verdict = (
        f"the residual net trains better {how_many(gaps.above(), n)}"
        if gaps.above()
        else f"no clear difference (within {MARGIN:.0%}) {how_many(n - gaps.above() - gaps.below(), n)}"
    )
    return [
        f"Final training error: plain **{errors['plain'].percent()}**, residual **{errors['residual'].percent()}**: {verdict}."
    ]


def sweep_lines(log: ExperimentLog) -> list[str]:
    """What the L2 sweep measured, in sentences computed from its finished runs (seed means and ranges)."""
    final, blocks = log.final_frame(), log.last_measured(log.block_frame())
    if final.empty or blocks.empty or set(final["variant"]) != set(VARIANTS):
        return []
    lines = []
    strongest = float(final["l2"].max())
    at = final[final["l2"] == strongest]
    gaps = spread_of(at.pivot_table(index="seed", columns="variant", values="train_error").dropna().eval("plain - residual"))
    n = len(gaps.values)
    errors = {v: spread_of(at.loc[at["variant"] == v, "train_error"]) for v in VARIANTS}
    lines.append(
        f"**At L2 {l2_label(strongest)}:** plain **{errors['plain'].percent()}**, residual **{errors['residual'].percent()}** "
        f"training error: the residual net trains better {how_many(gaps.above(), n)}"
        + ("." if gaps.above() else f"; the difference is within {MARGIN:.0%} or reversed on the others.")
    )
    ratios = blocks[(blocks["metric"] == "branch_ratio") & (blocks["variant"] == "residual") & (blocks["l2"] == strongest)]
    if not ratios.dropna(subset=["value"]).empty:
        values = ratios["value"].dropna()
        lines.append(
            f"**Branch ratio** ||F(x)|| / ||shortcut(x)|| at L2 {l2_label(strongest)}: **{values.median():.2f}** (median over "
            f"blocks and seeds; range {values.min():.2f}–{values.max():.2f}), not 0. With BatchNorm the block's output size "
            "is set by BN's scale, not by ||W|| (scale invariance), so L2 shrinks the branches only part of the way."
        )
    stds = blocks[blocks["metric"] == "act_std"].groupby(["l2", "variant"])["value"].mean().unstack()
    if set(VARIANTS) <= set(stds.columns):
        relative = (stds["residual"] / stds["plain"]).dropna()
        smaller = [l2_label(l2) for l2, r in relative.items() if r < 1]
        lines.append(
            "**Branch response std** (He et al. Fig. 7), mean over blocks and seeds, residual / plain: "
            + ", ".join(f"{r:.2f} at L2 {l2_label(l2)}" for l2, r in relative.items())
            + (
                f". Smaller in the residual net at L2 {', '.join(smaller)}; "
                if smaller
                else ". Not smaller in the residual net at any of these strengths; "
            )
            + "the paper's CIFAR nets show it smaller throughout."
        )
    return lines


def sweep_mean(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    """Per-layer/per-block values averaged over seeds, for the many-line charts (their sentences carry the spread)."""
    return frame.groupby([*keys, "metric"], as_index=False, dropna=False)["value"].mean()
