"""What the lesion study and the path measurement say (Veit et al. 2016): records -> tables -> verdicts and stories.

Every sentence is computed from the records (resnet_core/lesion.py, resnet_core/paths.py),
including the case "no clear difference". No streamlit, no plotting.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from resnet_core.config import FIELDS, ExperimentConfig
from resnet_core.data import split_sizes
from resnet_core.results import seed_summary
from resnet_core.specs import DRAWS, PATH_BATCH, PATH_DRAWS, VARIANTS

LESION_MARGIN = 0.05  # test-error points below which two nets' losses from one deletion count as "no clear difference"
PATH_MARGIN = 1.0  # blocks: how far the gradient's mean path length must sit from n/2 to call it shorter or longer
LESION_COLUMNS = ["variant", "mode", "k", "draw", "deleted", "transitions", "test_error"]
PATH_COLUMNS = ["k", "count", "share", "grad_mean", "grad_std", "draws"]


def budget_pairs(config: ExperimentConfig) -> tuple[ExperimentConfig, ...]:
    """What the host's budget counts for one lesion job: the pair's training, then its lesions and paths as training steps.

    A lesioned pair is measured by forward passes over the training set (BN re-estimation) and the test set; a
    path by a forward and backward pass of the residual net alone on PATH_BATCH images. A training step is a
    forward and backward pass of both nets on one minibatch, so that work is about `steps` more of them.
    """
    n = config.blocks
    n_train, n_test = split_sizes(config)
    lesioned_pairs = 2 + n + DRAWS * (n - 1)  # baseline, singles, the random draws, all n deleted
    samples = lesioned_pairs * (n_train + n_test) + (n + 1) * PATH_DRAWS * PATH_BATCH * 3 / 2  # in pair-forward units
    steps = math.ceil(samples / (3 * min(config.batch_size, n_train)))
    return (config, config.replace(steps=min(steps, int(FIELDS["steps"].high))))


def lesion_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per lesioned net: variant, mode (baseline / single / random), k, draw, deleted blocks, test_error."""
    rows = [{c: r[c] for c in LESION_COLUMNS} for r in records if r.get("kind") == "lesion"]
    return pd.DataFrame(rows, columns=LESION_COLUMNS)


def path_frame(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per path length k, with `total` = count x gradient of one path and `total_share` its share of the sum."""
    frame = pd.DataFrame([{c: r[c] for c in PATH_COLUMNS} for r in records if r.get("kind") == "paths"], columns=PATH_COLUMNS)
    frame["total"] = frame["count"] * frame["grad_mean"]
    frame["total_share"] = frame["total"] / frame["total"].sum() if len(frame) else frame["total"]
    return frame


def by_k(frame: pd.DataFrame) -> pd.DataFrame:
    """variant, k, mean, low, high, n of the test error over the random draws, spread as over seeds; k = 0 is intact."""
    return seed_summary(frame[frame["mode"].isin(["baseline", "random"])], ["variant", "k"], "test_error")


@dataclass(frozen=True)
class LesionVerdict:
    """Per net: the intact test error, the mean and worst error with one block deleted, the mean error per k."""

    baseline: dict[str, float]
    single_mean: dict[str, float]
    single_worst: dict[str, float]
    per_k: dict[str, list[float]]  # mean test error at k = 0..n

    def rise(self, variant: str) -> float:
        """Mean extra test error from deleting one block."""
        return self.single_mean[variant] - self.baseline[variant]

    @property
    def outcome(self) -> str:
        """ "residual" (the residual net survives, the plain one suffers), "plain" (the reverse) or "none" (no clear difference)."""
        gap = self.rise("plain") - self.rise("residual")
        return "residual" if gap > LESION_MARGIN else "plain" if gap < -LESION_MARGIN else "none"

    def largest_step(self, variant: str) -> float:
        """The largest rise of the mean error from k to k + 1 deleted blocks."""
        return float(np.max(np.diff(self.per_k[variant]))) if len(self.per_k[variant]) > 1 else math.nan


def lesion_verdict(frame: pd.DataFrame) -> LesionVerdict | None:
    """None until both nets have their baseline, every single deletion and the deletion of all n blocks."""
    parts = {v: frame[frame["variant"] == v] for v in VARIANTS}
    for part in parts.values():
        n = int((part["mode"] == "single").sum())
        if part[part["mode"] == "baseline"].empty or not n or part[part["mode"] == "random"]["k"].max() != n:
            return None
    single = {v: p[p["mode"] == "single"]["test_error"] for v, p in parts.items()}
    summary = by_k(frame)
    return LesionVerdict(
        baseline={v: float(p[p["mode"] == "baseline"]["test_error"].iloc[0]) for v, p in parts.items()},
        single_mean={v: float(s.mean()) for v, s in single.items()},
        single_worst={v: float(s.max()) for v, s in single.items()},
        per_k={v: summary[summary["variant"] == v].sort_values("k")["mean"].tolist() for v in VARIANTS},
    )


def lesion_story(verdict: LesionVerdict, chance: float) -> list[str]:
    """Two or three sentences true to the measurement, with its numbers."""
    b, m, w = verdict.baseline, verdict.single_mean, verdict.single_worst
    first = (
        f"Deleting one block moves the residual net's test error from {b['residual']:.1%} to {m['residual']:.1%} on "
        f"average (worst block {w['residual']:.1%}); the same deletion takes the plain net from {b['plain']:.1%} to "
        f"{m['plain']:.1%}" + (f", close to chance ({chance:.0%})." if m["plain"] >= chance - 0.1 else ".")
    )
    if verdict.outcome == "none":
        second = (
            f"No clear difference: one deletion costs the plain net {verdict.rise('plain'):+.1%} and the residual net "
            f"{verdict.rise('residual'):+.1%}, within {LESION_MARGIN:.0%} of each other."
        )
    elif verdict.outcome == "plain":
        second = "Here the plain net suffers less than the residual net: the opposite of Veit et al.'s finding."
    else:
        second = "The residual net barely notices a missing block; the plain net, whose every block lies on its one path, breaks."
    per_k, n = verdict.per_k["residual"], len(verdict.per_k["residual"]) - 1
    smooth = verdict.largest_step("residual") < verdict.rise("plain") / 2
    third = (
        f"Deleting k random blocks, the residual net's mean error goes {per_k[1]:.1%} (k = 1), {per_k[n // 2]:.1%} "
        f"(k = {n // 2}), {per_k[n]:.1%} (all {n}): "
        + (
            "it degrades smoothly, never by more than half the plain net's drop from one deletion at once."
            if smooth
            else "no smooth decline."
        )
    )
    return [first, second, third] if n >= 2 else [first, second]


@dataclass(frozen=True)
class PathVerdict:
    """Where the residual net's gradient comes from, by path length."""

    n: int
    peak: int  # the path length carrying the most total gradient
    gradient_length: float  # mean path length weighted by total gradient
    per_branch: float  # factor by which one path's gradient changes per extra branch on it (log-linear fit)
    short_share: float  # share of the total gradient from paths shorter than n / 2

    @property
    def outcome(self) -> str:
        """ "short", "long" or "none": the gradient-weighted length against the typical path length n / 2."""
        gap = self.gradient_length - self.n / 2
        return "short" if gap <= -PATH_MARGIN else "long" if gap >= PATH_MARGIN else "none"


def path_verdict(paths: pd.DataFrame) -> PathVerdict | None:
    """None without a measurement of at least two lengths with a non-zero gradient."""
    measured = paths[paths["grad_mean"] > 0]
    if len(measured) < 2 or paths["total"].sum() <= 0:
        return None
    n = int(paths["k"].max())
    slope = np.polyfit(measured["k"], np.log(measured["grad_mean"]), 1)[0]
    weights = paths["total_share"]
    return PathVerdict(
        n=n,
        peak=int(paths.loc[paths["total"].idxmax(), "k"]),
        gradient_length=float((paths["k"] * weights).sum()),
        per_branch=float(np.exp(slope)),
        short_share=float(weights[paths["k"] < n / 2].sum()),
    )


def path_story(verdict: PathVerdict) -> list[str]:
    """Two or three sentences true to the measurement."""
    n = verdict.n
    first = (
        f"The {n} blocks make 2^{n} = {2**n:,} paths, most of them about {n / 2:g} blocks long. Measured, one path's gradient "
        f"changes by a factor {verdict.per_branch:.2g} for every extra branch it passes through."
    )
    if verdict.outcome == "short":
        second = (
            f"So the total gradient peaks at length {verdict.peak} and {verdict.short_share:.0%} of it comes from paths "
            f"shorter than {n / 2:g} blocks: short paths carry the training signal (mean length {verdict.gradient_length:.1f})."
        )
    elif verdict.outcome == "long":
        second = (
            f"So the total gradient leans to long paths: its mean length is {verdict.gradient_length:.1f} blocks, "
            f"above the typical {n / 2:g}."
        )
    else:
        second = (
            f"No clear difference: the gradient's mean path length, {verdict.gradient_length:.1f}, is within "
            f"{PATH_MARGIN:g} block of the typical path's {n / 2:g}."
        )
    return [first, second]
