"""Identity & L2: why a residual block can fall back to the identity and a plain block can't, measured.

1. Scale every block's last layer by alpha (`lab.nets.scale_branches`, in a worker). At alpha = 0
   each identity residual block outputs exactly its input and the plain stack a constant
   (`lab.nets.identity_check`); then the pair trains from there (`alpha_records`, the engine's loop).
2. An L2 sweep over seeds: final training error, the residual branch ratio ||F(x)|| / ||shortcut(x)||
   and the branch response std (He et al. Fig. 7), with sentences computed from them (`sweep_lines`).
"""

from __future__ import annotations

import pandas as pd

from lab.spread import MARGIN, Spread, band_order, how_many, noise_note, spread_of
from lab.style import l2_label
from resnet_core.results import ExperimentLog
from resnet_core.specs import VARIANTS

L2_SWEEP = (0.0, 1e-4, 1e-3, 1e-2, 3e-2, 0.1)
DEFAULT_L2S = (0.0, 1e-3, 1e-2, 3e-2, 0.1)  # what the page sweeps before a visitor chooses
ALPHAS = (0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 1.0)  # small to large, as a slider reads


CONSTANT_STD = 1e-6  # an output std this small over the batch: every image gets the same logits


def block_kinds(residual: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The residual net's checked blocks as (identity shortcut, shape-changing, same shape with a projection).

    Read from `lab.nets.identity_check`'s rows: only the first kind can return a[l]; option C gives every block
    a projection, so there the first kind is empty and the third holds the blocks that keep their shape.
    """
    identity = residual["identity_block"].astype(bool)
    reshaping = residual["in_shape"] != residual["out_shape"]
    return residual[identity], residual[reshaping], residual[~identity & ~reshaping]


def worst_text(worst: float | None) -> str:
    """The metric's value: max |a[l+2] - a[l]| over the identity blocks, or that there are none to measure."""
    if worst is None:
        return "none"  # short: a metric cuts longer text at 1280 px; its help and the caption say why
    return "0.0 exactly" if worst == 0 else f"{worst:.3g}"


def zero_alpha_reading(worst: float | None, plain_std: float) -> tuple[bool, str]:
    """At alpha = 0: (both claims hold, the sentence), from the measured max |a[l+2] - a[l]| over the identity blocks
    (None where no block has an identity shortcut) and the plain output's std."""
    exact, constant = worst == 0, plain_std <= CONSTANT_STD
    if worst is None:
        identity = "no residual block has an identity shortcut here, so none can return its input unchanged"
    elif exact:
        identity = f"every identity residual block returns its input exactly (max difference {worst!r})"
    else:
        identity = f"the identity residual blocks differ from their input by up to {worst:.3g}"
    plain = (
        f"the plain stack outputs the same thing for every image (std {plain_std:.3g})"
        if constant
        else f"the plain stack's output still varies over the batch (std {plain_std:.3g})"
    )
    return exact and constant, f"Measured at α = 0: {identity}, while {plain}."


def _counted(count: int, noun: str, verb: str) -> str:
    """ "1 transition block changes", "3 transition blocks change": the subject and verb agree with the count."""
    return f"{count} {noun}" + (f" {verb}s" if count == 1 else f"s {verb}")


def transition_line(reshaping: int, projected: int, option: str, diff: float, alpha: float) -> str:
    """The blocks without an identity shortcut at this alpha, from the measured max |a[l+2] - shortcut(a[l])|.

    `reshaping` blocks change the shape; `projected` blocks keep it but have a projection shortcut (option C)."""
    parts = []
    if reshaping:
        parts.append(f"The {_counted(reshaping, 'transition block', 'change')} the shape, so a[l+2] = a[l] can't hold there.")
    if projected:
        parts.append(
            f"{'The other' if reshaping else 'The'} {_counted(projected, 'block', 'keep')} the shape but with a projection "
            "shortcut, so shortcut(a[l]) is not a[l] there either."
        )
    start = " ".join(parts) + f" With {option}, "
    if alpha != 0:
        return start + (
            f"at α = {alpha:g} the branch is on, a[l+2] = g(z[l+2] + shortcut(a[l])): max |a[l+2] − shortcut(a[l])| = "
            f"{diff:.3g} is what the branch adds. Slide α to 0 to switch it off."
        )
    if diff == 0:
        return start + (
            "the branch outputs 0, so they output g(shortcut(a[l])) = shortcut(a[l]) exactly (max difference 0): "
            "the shortcut of a ReLU output is non-negative, and g leaves it unchanged."
        )
    return start + (
        f"they output g(shortcut(a[l])), which differs from shortcut(a[l]) by up to {diff:.3g}: g changes the shortcut's "
        "output (a ReLU cuts a projection's negative values), so these blocks are not the identity."
    )


def pair_verdict(gaps: Spread) -> str:
    """Which net trains better, from the per-seed gaps plain - residual: a side wins only on every seed, else both counts."""
    n = len(gaps.values)
    if not n:
        return "no seed has both nets finished yet"
    if gaps.above() == n:
        return f"the residual net trains better {how_many(n, n)}, by more than {MARGIN:.0%}"
    if gaps.below() == n:
        return f"the plain net trains better {how_many(n, n)}, by more than {MARGIN:.0%}"
    return (
        f"no clear difference: residual lower by more than {MARGIN:.0%} {how_many(gaps.above(), n)}, "
        f"plain {how_many(gaps.below(), n)}"
    )


def alpha_lines(log: ExperimentLog) -> list[str]:
    """Final training error of both nets trained from the scaled weights, over seeds."""
    final = log.final_frame()
    if set(final.get("variant", [])) != set(VARIANTS):
        return []
    errors = {v: spread_of(final.loc[final["variant"] == v, "train_error"]) for v in VARIANTS}
    gaps = spread_of(final.pivot_table(index="seed", columns="variant", values="train_error").dropna().eval("plain - residual"))
    return [
        f"Final training error: plain **{errors['plain'].percent()}**, residual **{errors['residual'].percent()}**: "
        f"{pair_verdict(gaps)}."
    ]


def per_seed(frame: pd.DataFrame, metric: str, variant: str, l2: float, how: str = "mean") -> Spread:
    """One value per seed (the blocks' or layers' `how`) of a per-block/per-layer metric: the spread a sentence reads."""
    rows = frame[(frame["metric"] == metric) & (frame["variant"] == variant) & (frame["l2"] == l2)].dropna(subset=["value"])
    return spread_of(rows.groupby("seed")["value"].agg(how))


ORDER_WORDS = {-1: "smaller", 0: "within seed noise (the seed ranges overlap)", 1: "larger"}


ONE_SEED_WORDS = {-1: "smaller", 0: "the same", 1: "larger"}  # one value each side: no band, so no "seed noise"


def _shift(before: Spread, after: Spread, weak: float, strong: float) -> str:
    """ "0.81 [..] at L2 0 -> 0.42 [..] at L2 0.1: smaller" with the word read from the seed bands.

    With one seed there is no band: the word says only the direction, and the line adds `noise_note`."""
    order = band_order(after, before)
    if len(after.values) == 1 or len(before.values) == 1:
        word = ONE_SEED_WORDS[order]
    else:
        word = ORDER_WORDS[order] + (" beyond seed noise" if order else "")
    return f"{before.show('.3g')} at L2 {l2_label(weak)} → {after.show('.3g')} at L2 {l2_label(strong)}: {word}"


def sweep_lines(log: ExperimentLog, norm: str) -> list[str]:
    """What the L2 sweep measured, in sentences computed from its finished runs: seed means, ranges, and band overlaps."""
    final, blocks = log.final_frame(), log.last_measured(log.block_frame())
    if final.empty or blocks.empty or set(final["variant"]) != set(VARIANTS):
        return []
    lines = []
    weakest, strongest = float(final["l2"].min()), float(final["l2"].max())
    at = final[final["l2"] == strongest]
    gaps = spread_of(at.pivot_table(index="seed", columns="variant", values="train_error").dropna().eval("plain - residual"))
    errors = {v: spread_of(at.loc[at["variant"] == v, "train_error"]) for v in VARIANTS}
    lines.append(
        f"**At L2 {l2_label(strongest)}:** plain **{errors['plain'].percent()}**, residual **{errors['residual'].percent()}** "
        f"training error: {pair_verdict(gaps)}."
    )
    ratios = {l2: per_seed(blocks, "branch_ratio", "residual", l2, "median") for l2 in (weakest, strongest)}
    if all(r.values for r in ratios.values()) and weakest != strongest:
        smallest = float(blocks.loc[(blocks["metric"] == "branch_ratio") & (blocks["l2"] == strongest), "value"].min())
        line = (
            "**Branch ratio** ||F(x)|| / ||shortcut(x)|| of the residual net (median over blocks, per seed): "
            f"{_shift(ratios[weakest], ratios[strongest], weakest, strongest)}{noise_note(len(ratios[strongest].values))}. "
        )
        if smallest > 0:
            line += f"No block reaches 0 (smallest: {smallest:.2g})"
            line += (
                ": with BatchNorm the block's output size is set by BN's scale, not by ||W|| (scale invariance)."
                if norm == "batch"
                else "."
            )
        lines.append(line)
    weights = {
        v: [
            per_seed(log.last_measured(log.layer_frame()).query("kind == 'main'"), "weight_norm", v, l2)
            for l2 in (weakest, strongest)
        ]
        for v in VARIANTS
    }
    if all(s.values for pair in weights.values() for s in pair) and weakest != strongest:
        lines.append(
            "**||W||** (mean over main-path layers, per seed): "
            + "; ".join(f"{v} {_shift(*weights[v], weakest, strongest)}" for v in VARIANTS)
            + noise_note(len(weights["plain"][1].values))
            + "."
        )
    strengths = sorted(blocks.loc[blocks["metric"] == "act_std", "l2"].unique())
    stds = {(v, l2): per_seed(blocks, "act_std", v, l2) for v in VARIANTS for l2 in strengths}
    if strengths and all(s.values for s in stds.values()):
        orders = {l2: band_order(stds[("residual", l2)], stds[("plain", l2)]) for l2 in strengths}
        groups = {o: [l2_label(l2) for l2 in strengths if orders[l2] == o] for o in ORDER_WORDS}
        summary = "; ".join(f"{ORDER_WORDS[o]} at L2 {', '.join(groups[o])}" for o in (-1, 0, 1) if groups[o])
        lines.append(
            "**Branch response std** (He et al. Fig. 7; mean over blocks, per seed), residual vs plain: "
            + ", ".join(
                f"{stds[('residual', l2)].show('.3g')} vs {stds[('plain', l2)].show('.3g')} at L2 {l2_label(l2)}"
                for l2 in strengths
            )
            + f". Residual {summary}{noise_note(len(stds[('plain', strengths[0])].values))}; the paper's CIFAR nets show it "
            "smaller throughout."
        )
    return lines
