"""Shortcuts A / B / C (He et al. 2015 Sec. 3.3): the shapes at each block, the parameter cost, and training over seeds.

The runs are the engine's plain/residual pairs, one per option and seed (`train()`, shared
with the Gradient Flow page's cache): the plain net of a seed is the same in each pair (its
layers are seeded by name, its batches by the seed), so the table keeps the one from option A's
pair. `options_frame` turns the pairs' rows into the four nets plain, A, B, C.
"""

from __future__ import annotations

import itertools

import pandas as pd

from lab.spread import MARGIN, how_many, spread_of
from resnet_core.config import SHORTCUTS

NETS = ("plain", *SHORTCUTS)  # the four nets the page compares


def options_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """Rows of the option pairs -> rows of the four nets: `net` is plain, A, B or C; `run` names net and seed."""
    keep = (frame["variant"] == "residual") | (frame["option"] == SHORTCUTS[0])
    out = frame[keep].copy()
    out["net"] = out["option"].where(out["variant"] == "residual", "plain")
    out["run"] = out["net"] + "-" + out["seed"].astype(str)
    return out


def option_lines(final: pd.DataFrame) -> list[str]:
    """How the options compare at the end of training, per seed: an ordering is stated only if every seed agrees."""
    if final.empty:
        return []
    table = options_frame(final).pivot_table(index="seed", columns="net", values="train_error").dropna()
    if not set(NETS) <= set(table.columns) or table.empty:
        return []
    n = len(table)
    errors = {net: spread_of(table[net]) for net in NETS}
    lines = ["Final training error: " + ", ".join(f"{net} **{errors[net].percent()}**" for net in NETS) + "."]
    residual_better = spread_of(table["plain"] - table[list(SHORTCUTS)].max(axis=1))
    lines.append(f"Every option trains better than the plain net {how_many(residual_better.above(), n)}.")
    clear = []
    for a, b in itertools.combinations(SHORTCUTS, 2):
        diff = spread_of(table[a] - table[b])
        if diff.above() == n or diff.below() == n:
            better, worse = (b, a) if diff.above() == n else (a, b)
            clear.append(f"{better} beats {worse} on every seed")
    lines.append(
        ("Between the options: " + "; ".join(clear) + ".")
        if clear
        else f"Between A, B and C no ordering holds on every seed (differences under {MARGIN:.0%} count as none): "
        "the differences sit in seed noise here, as the paper's small ImageNet gaps suggest they might."
    )
    return lines


def transition_layers(layers: pd.DataFrame, table: pd.DataFrame) -> pd.DataFrame:
    """`layers` with `in_transition`: the weight belongs to a block that changes shape (incl. its W_s)."""
    transition = {int(b) - 1 for b in table.loc[table["transition"], "block"]}
    block_of = layers["name"].str.extract(r"^blocks\.(\d+)\.")[0].astype(float)
    return layers.assign(in_transition=block_of.isin(transition))


def transition_gradient_summary(layers: pd.DataFrame) -> pd.DataFrame:
    """net, mean ||dL/dW|| over training and seeds in transition-block layers vs other block layers, and their ratio."""
    grads = layers[(layers["metric"] == "grad_norm") & layers["name"].str.startswith("blocks.")]
    means = grads.groupby(["net", "in_transition"], sort=False)["value"].mean().unstack()
    frame = pd.DataFrame({"net": means.index, "transition": means.get(True), "other": means.get(False)}).reset_index(drop=True)
    return frame.assign(ratio=frame["transition"] / frame["other"])
