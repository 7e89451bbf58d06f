"""Post- vs pre-activation units (He et al. 2016, arXiv 1603.05027) at initialisation: tables, verdict, story, figure.

The post-activation unit a[l+2] = g(z + a[l]) puts a g on the shortcut path of every block; the
full pre-activation unit a[l+2] = z + a[l] leaves only additions there. What that does to the
backward signal is read from the init records of both (`resnet_core.training.measure_init`):
the per-block ||dL/da[l]||, block 1 (input side) over block n. No streamlit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import pandas as pd
import plotly.graph_objects as go

from lab.gradient_flow import block_phrase, distance_from_flat
from lab.style import BLOCK_AXIS, COLORS, base_layout
from resnet_core.config import BLOCKS
from resnet_core.results import RunLog, end_ratio
from resnet_core.specs import VARIANTS

CLEAR_FACTOR = 2.0  # one unit's first/last ratio must sit this many times closer to 1 than the other's to count
DASHES = {"post": "solid", "pre": "dash"}
UNIT_NAMES = {"post": "post-activation", "pre": "pre-activation"}  # the one wording of the two units


def block_gradients(logs: dict[str, RunLog]) -> pd.DataFrame:
    """unit (post / pre), variant, block, value: ||dL/da[l]|| at initialisation."""
    frames = []
    for unit, log in logs.items():
        blocks = log.block_frame()
        blocks = blocks[(blocks["metric"] == "act_grad_norm") & (blocks["step"] == 0)]
        frames.append(blocks[["variant", "block", "value"]].assign(unit=unit))
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["variant", "block", "value", "unit"])


def first_last(frame: pd.DataFrame, unit: str, variant: str) -> float:
    """||dL/da|| of block 1 over that of the last block (results.end_ratio); 0 when the input side underflowed."""
    return end_ratio(frame[(frame["unit"] == unit) & (frame["variant"] == variant)].sort_values("block")["value"].tolist())


@dataclass(frozen=True)
class UnitVerdict:
    """The residual net's first/last ratio with each unit, and which unit keeps the backward signal flatter."""

    post: float
    pre: float

    @property
    def outcome(self) -> str:
        """ "pre" or "post" (that unit is flatter by more than CLEAR_FACTOR) or "none"."""
        post, pre = distance_from_flat(self.post), distance_from_flat(self.pre)
        margin = math.log10(CLEAR_FACTOR)
        if post == pre:  # both flat alike, or both underflowed
            return "none"
        return "pre" if pre + margin < post else "post" if post + margin < pre else "none"


def unit_verdict(frame: pd.DataFrame) -> UnitVerdict | None:
    if set(frame["unit"]) != set(BLOCKS):
        return None
    return UnitVerdict(post=first_last(frame, "post", "residual"), pre=first_last(frame, "pre", "residual"))


def unit_story(verdict: UnitVerdict) -> list[str]:
    """Two sentences true to the measurement."""
    first = (
        f"Residual net, block 1 over the last block's ||dL/da||: post-activation {block_phrase(verdict.post)}, "
        f"pre-activation {block_phrase(verdict.pre)}."
    )
    if verdict.outcome == "pre":
        second = (
            "Taking g off the shortcut path keeps the backward signal flatter: in the post-activation unit every block's "
            "g multiplies the gradient on its way down, in the pre-activation unit only additions lie on that path."
        )
    elif verdict.outcome == "post":
        second = "Here the post-activation unit keeps the backward signal flatter than the pre-activation one."
    else:
        second = (
            f"No clear difference: neither ratio is more than {CLEAR_FACTOR:g}x closer to 1 than the other, "
            "so at initialisation the order inside the unit barely matters at these settings."
        )
    return [first, second]


def unit_figure(frame: pd.DataFrame) -> go.Figure:
    """||dL/da[l]|| per block for plain and residual nets with each unit: colour = net, dash = unit."""
    fig = go.Figure()
    for unit in BLOCKS:
        for variant in VARIANTS:
            part = frame[(frame["unit"] == unit) & (frame["variant"] == variant)].sort_values("block")
            fig.add_trace(
                go.Scatter(
                    x=part["block"],
                    y=part["value"],
                    mode="lines",
                    name=f"{variant}, {UNIT_NAMES[unit]}",
                    line={"color": COLORS[variant], "width": 3, "dash": DASHES[unit]},
                    hovertemplate=f"{variant}, {UNIT_NAMES[unit]}<br>block %{{x}}<br>‖∂L/∂a‖ = %{{y:.3g}}<extra></extra>",
                )
            )
    title = "Activation-gradient norm per block at initialisation"
    return base_layout(fig, title, BLOCK_AXIS, "‖∂L/∂a[l]‖", log_y=True)
