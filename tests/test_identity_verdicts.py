"""lab.identity's sentences and seed bands on constructed records: each reading, "within seed noise" included."""

from __future__ import annotations

import pandas as pd
import pytest

from lab import identity as I
from lab import science_charts as charts
from lab.spread import Spread, band_order, spread_of
from resnet_core.results import ExperimentLog

LAYERS = [
    {"name": n, "index": i, "kind": "main"}
    for i, n in enumerate(["stem.w", "b0.l1.w", "b0.l2.w", "b1.l1.w", "b1.l2.w", "fc.w"], 1)
]


def sweep_log(values: dict[tuple[str, float, int], dict[str, float]]) -> ExperimentLog:
    """(variant, l2, seed) -> {error, ratio, std, weight}: one finished run each, the same value on both blocks/layers."""
    log = ExperimentLog()
    for (variant, l2, seed), v in values.items():
        tags = {"seed": seed, "l2": l2}
        ratio = v.get("ratio", float("nan")) if variant == "residual" else float("nan")
        step = {
            "kind": "step",
            "variant": variant,
            "step": 10,
            "loss": 1.0,
            "batch_error": 0.5,
            "grad_norm": [1.0] * 6,
            "weight_norm": [v["weight"]] * 6,
            "act_grad_norm": [1.0, 1.0],
            "act_std": [v["std"], v["std"]],
            "branch_ratio": [ratio, ratio],
            "out_ms": [1.0, 1.0],
        }
        meta = {"kind": "meta", "variant": variant, "layers": LAYERS, "blocks": ["block 1", "block 2"]}
        done = {"kind": "done", "variant": variant, "train_error": v["error"], "test_error": v["error"], "diverged": False}
        log.extend([{**r, "tags": tags} for r in (meta, step, done)])
    return log


def values(residual_std: list[float], plain_std: list[float], ratio: dict[float, list[float]]) -> dict:
    """Three seeds at L2 0 and 0.1; the residual net trains better by 10 points on each seed."""
    out = {}
    for l2 in (0.0, 0.1):
        for s in range(3):
            shrink = 0.5 if l2 else 1.0
            out[("plain", l2, s)] = {"error": 0.3, "std": plain_std[s], "weight": 4.0 * shrink + 0.1 * s}
            out[("residual", l2, s)] = {"error": 0.2, "std": residual_std[s], "ratio": ratio[l2][s], "weight": 3.0}
    return out


def test_bands_order_only_when_the_seed_ranges_do_not_overlap() -> None:
    assert band_order(spread_of([1, 2]), spread_of([3, 4])) == -1
    assert band_order(spread_of([3, 4]), spread_of([1, 2])) == 1
    assert band_order(spread_of([1, 3]), spread_of([2, 4])) == 0
    assert Spread((0.4, 0.5)).show(".2f") == "0.45 [0.40–0.50]" and Spread((0.4,)).show(".2f") == "0.40"


def test_sweep_sentences_say_smaller_beyond_seed_noise_where_the_bands_separate() -> None:
    log = sweep_log(values([0.4, 0.5, 0.45], [0.8, 0.9, 0.85], {0.0: [0.9, 1.0, 1.1], 0.1: [0.3, 0.4, 0.5]}))
    error, ratio, weight, std = I.sweep_lines(log, "batch")
    assert "plain **30.0% [30.0%–30.0%]**, residual **20.0% [20.0%–20.0%]**" in error and "on every seed (3 of 3)" in error
    assert "1 [0.9–1.1] at L2 0 → 0.4 [0.3–0.5] at L2 0.1: smaller beyond seed noise" in ratio
    assert "No block reaches 0 (smallest: 0.3): with BatchNorm" in ratio
    assert "plain 4.1 [4–4.2] at L2 0 → 2.1 [2–2.2] at L2 0.1: smaller beyond seed noise" in weight
    assert "residual 3 [3–3] at L2 0 → 3 [3–3] at L2 0.1: within seed noise" in weight
    assert "0.45 [0.4–0.5] vs 0.85 [0.8–0.9] at L2 0" in std and "Residual smaller at L2 0, 0.1;" in std


def test_sweep_sentences_say_within_seed_noise_where_the_bands_overlap() -> None:
    log = sweep_log(values([0.4, 0.9, 0.6], [0.5, 0.8, 0.7], {0.0: [0.3, 1.0, 0.6], 0.1: [0.5, 0.9, 0.4]}))
    _, ratio, _, std = I.sweep_lines(log, "none")
    assert "at L2 0.1: within seed noise (the seed ranges overlap)" in ratio and "BatchNorm" not in ratio
    assert "Residual within seed noise (the seed ranges overlap) at L2 0, 0.1;" in std and "smaller at" not in std


def test_one_seed_says_no_spread_was_measured() -> None:
    one = {k: v for k, v in values([0.4] * 3, [0.8] * 3, {0.0: [1.0] * 3, 0.1: [0.5] * 3}).items() if k[2] == 0}
    _, ratio, weight, std = I.sweep_lines(sweep_log(one), "batch")
    assert "one seed: no spread measured" in ratio and "one seed: no spread measured" in std
    assert "1 at L2 0 → 0.5 at L2 0.1: smaller (one seed: no spread measured" in ratio
    assert "plain 4 at L2 0 → 2 at L2 0.1: smaller; residual 3 at L2 0 → 3 at L2 0.1: the same (one seed" in weight
    assert "seed noise" not in ratio and "seed noise" not in weight


def alpha_log(errors: dict[int, tuple[float, float]]) -> ExperimentLog:
    """Runs trained from the scaled weights: {seed: (plain error, residual error)}."""
    log = ExperimentLog()
    for seed, pair in errors.items():
        for variant, error in zip(("plain", "residual"), pair, strict=True):
            done = {"kind": "done", "variant": variant, "train_error": error, "test_error": error, "diverged": False}
            log.extend([{"kind": "meta", "variant": variant, "tags": {"seed": seed}}, {**done, "tags": {"seed": seed}}])
    return log


@pytest.mark.parametrize(
    "errors, words",
    [
        ({0: (0.5, 0.2), 1: (0.6, 0.3)}, "the residual net trains better on every seed (2 of 2), by more than 2%"),
        ({0: (0.1, 0.3), 1: (0.1, 0.3), 2: (0.3, 0.3)}, "residual lower by more than 2% on no seed, plain on 2 of 3 seeds"),
        ({0: (0.1, 0.3), 1: (0.1, 0.3)}, "the plain net trains better on every seed (2 of 2)"),
        ({0: (0.5, 0.2), 1: (0.1, 0.3), 2: (0.3, 0.3)}, "residual lower by more than 2% on 1 of 3 seeds, plain on 1 of 3"),
    ],
)
def test_the_alpha_verdict_counts_seeds_in_both_directions(errors: dict[int, tuple[float, float]], words: str) -> None:
    (line,) = I.alpha_lines(alpha_log(errors))
    assert words in line


def check_rows(shapes: list[tuple[bool, str, str]]) -> pd.DataFrame:
    """The residual rows of `identity_check`: (identity shortcut, in shape, out shape) per block."""
    return pd.DataFrame([{"run": "residual", "identity_block": i, "in_shape": a, "out_shape": b} for i, a, b in shapes])


def test_blocks_split_by_shape_change_and_by_projection() -> None:
    option_b = check_rows([(True, "16x8x8", "16x8x8"), (False, "16x8x8", "32x4x4"), (True, "32x4x4", "32x4x4")])
    identity, reshaping, projected = I.block_kinds(option_b)
    assert (len(identity), len(reshaping), len(projected)) == (2, 1, 0)
    option_c = check_rows([(False, "16x8x8", "16x8x8"), (False, "16x8x8", "32x4x4"), (False, "32x4x4", "32x4x4")])
    identity, reshaping, projected = I.block_kinds(option_c)
    assert (len(identity), len(reshaping), len(projected)) == (0, 1, 2)


def test_no_identity_block_gives_no_nan_sentence_or_metric() -> None:
    holds, sentence = I.zero_alpha_reading(None, 0.0)
    assert not holds and "no residual block has an identity shortcut" in sentence and "nan" not in sentence
    assert I.worst_text(None) == "none" and I.worst_text(0.0) == "0.0 exactly"


def test_projection_only_blocks_are_not_called_shape_changing() -> None:
    only = I.transition_line(0, 3, "option C", 0.4, 0.0)
    assert "change the shape" not in only and "The 3 blocks keep the shape but with a projection shortcut" in only
    both = I.transition_line(1, 2, "option C", 0.4, 0.0)
    assert both.startswith("The 1 transition block changes the shape") and "The other 2 blocks keep the shape" in both


@pytest.mark.parametrize(
    "worst, plain_std, holds, words",
    [
        (0.0, 0.0, True, "returns its input exactly"),
        (1e-3, 0.0, False, "differ from their input by up to 0.001"),
        (0.0, 0.2, False, "still varies over the batch (std 0.2)"),
    ],
)
def test_the_alpha_zero_sentence_is_read_from_the_measured_differences(
    worst: float, plain_std: float, holds: bool, words: str
) -> None:
    ok, sentence = I.zero_alpha_reading(worst, plain_std)
    assert ok is holds and words in sentence


def test_every_per_block_and_per_layer_chart_draws_the_seed_range_as_a_band() -> None:
    log = sweep_log(values([0.4, 0.5, 0.45], [0.8, 0.9, 0.85], {0.0: [0.9, 1.0, 1.1], 0.1: [0.3, 0.4, 0.5]}))
    blocks, layers = log.last_measured(log.block_frame()), log.last_measured(log.layer_frame())
    for fig, lines in (
        (charts.branch_ratio_figure(blocks), 2),
        (charts.weight_norm_figure(layers), 4),
        (charts.response_std_figure(blocks), 4),
    ):
        bands = [t for t in fig.data if t.fill == "toself"]
        means = [t for t in fig.data if t.fill != "toself"]
        assert len(bands) == len(means) == lines
    ratio = charts.branch_ratio_figure(blocks)
    band, mean = ratio.data[2], ratio.data[3]  # L2 0.1: the band, then its mean line
    assert list(mean.y) == pytest.approx([0.4, 0.4]) and list(band.y) == pytest.approx([0.5, 0.5, 0.3, 0.3])
    weights = charts.weight_norm_figure(layers)
    assert list(weights.data[1].text) == [layer["name"] for layer in LAYERS]  # hover keeps named_parameters() names


def test_the_transition_sentence_follows_alpha_and_the_measured_difference() -> None:
    on = I.transition_line(2, 0, "option A", 5.9, 1.0)
    assert "at α = 1 the branch is on" in on and "5.9 is what the branch adds" in on and "g(shortcut(a[l]))" not in on
    exact = I.transition_line(2, 0, "option A", 0.0, 0.0)
    assert "= shortcut(a[l]) exactly (max difference 0)" in exact and exact.startswith("The 2 transition blocks change")
    cut = I.transition_line(2, 0, "option B", 0.7, 0.0)
    assert "differs from shortcut(a[l]) by up to 0.7" in cut and "not the identity" in cut
