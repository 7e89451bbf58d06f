"""The page's sentences on constructed measurements: clear differences either way, and "no clear difference"."""

from __future__ import annotations

import math

from lab.landscape import (
    ROUGHER_BY,
    LandscapeLog,
    LandscapeVerdict,
    budget_config,
    landscape_story,
    landscape_verdict,
    shatter_story,
)
from lab.spread import band_order, spread_of
from resnet_core.config import ExperimentConfig
from resnet_core.specs import ShatterSpec, SliceSpec


def summary(plain_rise: list[float], residual_rise: list[float], plain_2d: float, residual_2d: float) -> dict:
    return {
        "plain": {"trained_loss": 0.1, "rise": spread_of(plain_rise), "nonconvex_1d": spread_of([0.0]), "nonconvex_2d": plain_2d},
        "residual": {
            "trained_loss": 0.1,
            "rise": spread_of(residual_rise),
            "nonconvex_1d": spread_of([0.0]),
            "nonconvex_2d": residual_2d,
        },
    }


def test_spread_and_overlap() -> None:
    s = spread_of([0.2, 0.4, 0.9])
    assert (s.low, s.high) == (0.2, 0.9) and abs(s.mean - 0.5) < 1e-12
    assert s.show(".2f") == "0.50 [0.20–0.90]" and spread_of([0.25]).show(".2f") == "0.25"  # the pages' one format
    assert band_order(spread_of([1.0, 2.0]), spread_of([0.1, 0.9])) == 1
    assert band_order(spread_of([0.5, 2.0]), spread_of([0.1, 0.9])) == 0


def test_shatter_story_residual_clearly_more_correlated() -> None:
    text = shatter_story({"plain": spread_of([-0.1, 0.05]), "residual": spread_of([0.3, 0.5])}, ShatterSpec(seeds=2))
    assert "over 2 random nets" in text and "-0.03 [-0.10 to 0.05]" in text and "0.40 [0.30–0.50]" in text
    assert "as Balduzzi et al. found" in text and "below that figure" in text
    assert "two g per shortcut" in text  # the known cause, named for the lab's two-layer blocks


def test_shatter_story_names_the_remaining_gap_with_the_papers_module() -> None:
    text = shatter_story({"plain": spread_of([-0.1, 0.05]), "residual": spread_of([0.75, 0.89])}, ShatterSpec(skip="layer"))
    assert "below that figure" in text and "not explained by this lab" in text and "two g per shortcut" not in text


def test_shatter_story_overlap_is_no_clear_difference() -> None:
    text = shatter_story({"plain": spread_of([0.5, 0.97]), "residual": spread_of([0.95, 0.99])}, ShatterSpec())
    assert "No clear difference" in text and "Balduzzi et al. found" not in text and "near that figure" in text


def test_shatter_story_quotes_the_paper_only_at_its_setting() -> None:
    for other in (ShatterSpec(depth=8), ShatterSpec(norm="none"), ShatterSpec(width=64), ShatterSpec(bias_std=0.0)):
        text = shatter_story({"plain": spread_of([0.6, 0.7]), "residual": spread_of([0.8, 0.9])}, other)
        assert "The paper reports" not in text, other


def test_shatter_story_says_so_when_the_plain_net_is_the_smoother() -> None:
    text = shatter_story({"plain": spread_of([0.6, 0.7]), "residual": spread_of([0.2, 0.3])}, ShatterSpec(seeds=2))
    assert "opposite of Balduzzi" in text


def test_landscape_no_clear_difference_within_the_spread() -> None:
    s = summary([1.0, 2.0, 3.0], [1.5, 2.5], 0.30, 0.30 - ROUGHER_BY / 2)
    assert landscape_verdict(s) == LandscapeVerdict(sharper=None, rougher=None)
    text = landscape_story(s, n_params=10_000, directions=3)
    assert "No clear difference" in text and "85x fewer" in text


def test_no_clear_difference_does_not_call_a_bumpy_surface_smooth() -> None:
    """Measured on CNN-20, seed 3: 41% and 33% of both 2-D slices bend downward, so neither is a smooth basin."""
    text = landscape_story(summary([2.65, 3.36, 3.3], [2.75, 4.51, 3.75], 0.41, 0.33), n_params=67_906, directions=3)
    assert "No clear difference" in text and "41% vs 33%" in text
    assert "smooth" not in text and f"differ by less than {ROUGHER_BY:.0%}" in text


def test_landscape_plain_sharper_and_rougher_is_li_et_al_s_direction() -> None:
    verdict = landscape_verdict(summary([3.0, 4.0], [1.0, 2.0], 0.5, 0.1))
    assert (verdict.sharper, verdict.rougher) == ("plain", "plain")
    text = landscape_story(summary([3.0, 4.0], [1.0, 2.0], 0.5, 0.1), 853_018, 2)
    assert "the direction Li et al. found" in text and "50% vs 10%" in text and "about 1x fewer" in text


def test_landscape_residual_rougher_is_not_li_et_al_s_direction() -> None:
    verdict = landscape_verdict(summary([1.0, 2.0], [1.5, 2.5], 0.1, 0.5))
    assert (verdict.sharper, verdict.rougher) == (None, "residual")
    assert "not the direction Li et al. found" in landscape_story(summary([1.0, 2.0], [1.5, 2.5], 0.1, 0.5), 1000, 2)


def test_landscape_log_is_complete_only_with_both_surfaces() -> None:
    log = LandscapeLog()
    log.add({"kind": "slice2d", "variant": "plain", "alpha": [0.0], "loss": [[1.0]]})
    assert not log.complete
    log.add({"kind": "slice2d", "variant": "residual", "alpha": [0.0], "loss": [[1.0]]})
    assert log.complete


def test_landscape_flatter_but_rougher_plain_net_is_a_mixed_picture() -> None:
    """Measured at depth 56: the barely trained plain net sits on a flat, bumpy plateau; the residual net in a sharp basin."""
    text = landscape_story(summary([0.4, 0.6], [2.2, 4.1], 0.74, 0.17), 50_000, 2)
    assert "the residual net's basin is the sharper and the plain net's surface is the rougher" in text
    assert "mixed picture" in text


def test_the_budget_counts_the_slices_as_training_steps() -> None:
    config = ExperimentConfig(steps=150, batch_size=64)
    spec = SliceSpec(directions=3, points_1d=21, points_2d=13, samples=256)
    assert budget_config(config, spec).steps == 150 + math.ceil((3 * 21 + 13 * 13) * 256 / (3 * 64))
    assert budget_config(config.replace(steps=100_000), spec).steps == 100_000  # the config's own ceiling
    assert budget_config(config, spec).replace(steps=150) == config
