"""Shattered gradients and loss-landscape slices: their records as tables, their verdicts and the sentences on screen.

No Streamlit, no Plotly: the figures are in lab/landscape_charts.py. Every sentence is computed
from the measured records, including "no clear difference": a difference is called clear only
when the two nets' ranges (over seeds, or over random directions) don't overlap.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from typing import Any

import pandas as pd

from lab.spread import Spread, band_order, spread_of
from resnet_core.config import FIELDS, ExperimentConfig
from resnet_core.specs import VARIANTS, ShatterSpec, SliceSpec, slice_summary

PAPER_LAG1 = {"plain": 0.0, "residual": 0.93}  # Balduzzi et al. 2017: width 200, 24 layers, BN, biases std 0.1
PAPER_SPEC = ShatterSpec()  # that setting (its defaults); seeds, seed and skip may differ for the figures to apply
SKIP_LABELS = {"block": "every block (2 layers, the lab's nets)", "layer": "every layer (one g per shortcut)"}
RESNET56_PARAMS = 853_018  # He et al.'s CIFAR-10 ResNet-56 (docs/SCIENCE_NOTES.md), the scale of Li et al.'s surfaces
ROUGHER_BY = 0.10  # a non-convex share of the 2-D slice this much larger (absolute) counts as rougher


def spec_kind(name: str, spec: Any) -> str:
    """The result cache's kind for a measurement with a spec beyond the config: every spec field in the name."""
    return name + "-" + "_".join(f"{key}{value}" for key, value in asdict(spec).items())


def budget_config(config: ExperimentConfig, spec: SliceSpec) -> ExperimentConfig:
    """The training run that costs what training *and* slicing cost, for the host's budget (ui.runner.Run.costs_as).

    A grid point is one forward pass over `samples` points per net; a training step is a forward and a
    backward pass (about three forwards) over `batch_size` points.
    """
    forwards = spec.directions * spec.points_1d + spec.points_2d**2
    extra = math.ceil(forwards * spec.samples / (3 * config.batch_size))
    return config.replace(steps=min(config.steps + extra, int(FIELDS["steps"].high)))


class ShatterLog:
    """The records of `resnet_core.shattered.shattered_records`, as long tables."""

    def __init__(self) -> None:
        self.x: list[float] = []
        self.curves: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        if record["kind"] == "meta":
            self.x = record["x"]
        elif record["kind"] == "gradient":
            self.curves.append(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> ShatterLog:
        for record in records:
            self.add(record)
        return self

    def gradient_frame(self) -> pd.DataFrame:
        """variant, seed, x, gradient: one row per grid point."""
        rows = [
            {"variant": c["variant"], "seed": c["seed"], "x": x, "gradient": g}
            for c in self.curves
            for x, g in zip(self.x, c["gradient"], strict=True)
        ]
        return pd.DataFrame(rows, columns=["variant", "seed", "x", "gradient"])

    def acf_frame(self) -> pd.DataFrame:
        """variant, seed, lag, autocorrelation."""
        rows = [
            {"variant": c["variant"], "seed": c["seed"], "lag": lag, "autocorrelation": r}
            for c in self.curves
            for lag, r in enumerate(c["acf"])
        ]
        return pd.DataFrame(rows, columns=["variant", "seed", "lag", "autocorrelation"])

    def lag1(self) -> dict[str, Spread]:
        return {v: spread_of(c["acf"][1] for c in self.curves if c["variant"] == v) for v in VARIANTS}


def shatter_story(lag1: dict[str, Spread], spec: ShatterSpec) -> str:
    """Two or three sentences on the measured lag-1 autocorrelations, true to the seed spread; the paper's figure
    only at the paper's setting, with the cause of the gap where this lab knows it (docs/SCIENCE_NOTES.md 7)."""
    plain, residual = lag1["plain"], lag1["residual"]
    head = (
        f"Measured over {spec.seeds} random nets: lag-1 autocorrelation of dy/dx **{plain.show('.2f')}** for the plain stack, "
        f"**{residual.show('.2f')}** for the residual stack (1 = neighbouring inputs get the same gradient, 0 = white noise)."
    )
    if band_order(residual, plain) == 1:
        verdict = (
            " The plain stack's gradient is the noisier one, shattered like white noise the further it is from 1, "
            "while the shortcuts keep neighbouring gradients related, as Balduzzi et al. found."
        )
    elif band_order(plain, residual) == 1:
        verdict = " Here the plain stack's gradient is the more correlated one: the opposite of Balduzzi et al.'s finding."
    else:
        verdict = " No clear difference at these settings: the two ranges overlap across seeds."
    return head + verdict + paper_comparison(residual, spec)


def paper_comparison(residual: Spread, spec: ShatterSpec) -> str:
    """The paper's lag-1 figures beside the measurement, at the paper's setting only (else nothing is compared)."""
    if replace(spec, seeds=PAPER_SPEC.seeds, seed=PAPER_SPEC.seed, skip=PAPER_SPEC.skip) != PAPER_SPEC:
        return ""
    below = residual.high < PAPER_LAG1["residual"]
    text = (
        f" The paper reports about {PAPER_LAG1['plain']:g} and {PAPER_LAG1['residual']:g} with BN at width 200 and 24 layers;"
        f" this engine's residual net is {'below' if below else 'near'} that figure."
    )
    if below and spec.skip == "block":
        text += (
            " Its shortcuts skip blocks of two layers, two g per shortcut; a + W g(BN(a)) around every layer "
            "skips one: choose shortcuts around every layer to measure that."
        )
    elif below:
        text += " With a shortcut around every layer, the rest of the gap is not explained by this lab."
    return text


class LandscapeLog:
    """Training records (for the final errors and parameter counts) and the slices of `landscape_records`."""

    def __init__(self) -> None:
        self.final: dict[str, dict[str, Any]] = {}
        self.n_params: dict[str, int] = {}
        self.lines: dict[str, dict[str, Any]] = {}
        self.surfaces: dict[str, dict[str, Any]] = {}

    def add(self, record: dict[str, Any]) -> None:
        kind, variant = record["kind"], record["variant"]
        if kind == "meta":
            self.n_params[variant] = record["n_params"]
        elif kind == "done":
            self.final[variant] = record
        elif kind == "slice1d":
            self.lines[variant] = record
        elif kind == "slice2d":
            self.surfaces[variant] = record

    def extend(self, records: Iterable[dict[str, Any]]) -> LandscapeLog:
        for record in records:
            self.add(record)
        return self

    @property
    def complete(self) -> bool:
        return set(self.surfaces) == set(VARIANTS)

    def line_frame(self) -> pd.DataFrame:
        """variant, direction, alpha, loss: every 1-D slice."""
        rows = [
            {"variant": v, "direction": j + 1, "alpha": a, "loss": loss}
            for v, record in self.lines.items()
            for j, line in enumerate(record["loss"])
            for a, loss in zip(record["alpha"], line, strict=True)
        ]
        return pd.DataFrame(rows, columns=["variant", "direction", "alpha", "loss"])

    def summary(self) -> dict[str, dict[str, Any]]:
        """Per net: the trained loss, the rise at the ends and the non-convex shares (1-D as spreads over directions, 2-D)."""
        out = {}
        for v in VARIANTS:
            measured = slice_summary(self.lines[v]["loss"], self.surfaces[v]["loss"])
            out[v] = {"trained_loss": self.lines[v]["trained_loss"], "nonconvex_2d": measured["nonconvex_2d"]} | {
                k: spread_of(measured[k]) for k in ("rise", "nonconvex_1d")
            }
        return out


@dataclass(frozen=True)
class LandscapeVerdict:
    sharper: str | None  # the net whose loss rises more at the ends, in every direction; None: ranges overlap
    rougher: str | None  # the net with clearly more non-convex 2-D points; None: within ROUGHER_BY


def landscape_verdict(summary: dict[str, dict[str, Any]]) -> LandscapeVerdict:
    plain, residual = summary["plain"], summary["residual"]
    sharper = (
        "plain"
        if band_order(plain["rise"], residual["rise"]) == 1
        else "residual"
        if band_order(residual["rise"], plain["rise"]) == 1
        else None
    )
    gap = plain["nonconvex_2d"] - residual["nonconvex_2d"]
    rougher = "plain" if gap >= ROUGHER_BY else "residual" if -gap >= ROUGHER_BY else None
    return LandscapeVerdict(sharper, rougher)


def landscape_story(summary: dict[str, dict[str, Any]], n_params: int, directions: int) -> str:
    """Two or three sentences from the measured slices, with the honest scale of the effect."""
    plain, residual = summary["plain"], summary["residual"]
    verdict = landscape_verdict(summary)
    head = (
        f"Measured around the trained weights: at α = ±1 the plain net's loss rises by **{plain['rise'].show('.2f')}** over "
        f"{directions} random directions, the residual net's by **{residual['rise'].show('.2f')}**; "
        f"{plain['nonconvex_2d']:.0%} vs {residual['nonconvex_2d']:.0%} of the 2-D slice bends downward (non-convex)."
    )
    if verdict.sharper is None and verdict.rougher is None:
        middle = (
            " No clear difference: the rises overlap across the random directions and the non-convex shares differ "
            f"by less than {ROUGHER_BY:.0%}."
        )
    else:
        parts = [f"the {verdict.sharper} net's basin is the sharper"] if verdict.sharper else []
        parts += [f"the {verdict.rougher} net's surface is the rougher"] if verdict.rougher else []
        found = {verdict.sharper, verdict.rougher} - {None}
        direction = {
            frozenset({"plain"}): "the direction Li et al. found.",
            frozenset({"residual"}): "not the direction Li et al. found.",
        }.get(frozenset(found), "a mixed picture, only partly the direction Li et al. found.")
        middle = f" Here {' and '.join(parts)}: {direction}"
    scale = (
        f" Li et al.'s plain surfaces turn chaotic at CIFAR-10 scale (56 and 110 layers; ResNet-56 has {RESNET56_PARAMS:,} "
        f"parameters); these nets have {n_params:,}, about {RESNET56_PARAMS / n_params:.0f}x fewer, so expect a much weaker effect."
    )
    return head + middle + scale
