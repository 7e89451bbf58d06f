"""Post- vs pre-activation trained: the per-seed verdict on constructed records, and the page's button end to end.

The verdict's cases are built by hand (a clear pre win, a clear post win, mixed seeds, gaps inside the margin,
an unpaired seed); the page's numbers are compared with the records the workers cached.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from conftest import chart_specs, decode
from test_lesion_pages import SIGMOID, open_page
from test_science_pages import chart

from lab import preactivation as P
from lab import preactivation_training as T
from lab.errors import error_method
from lab.pages import PREACTIVATION
from lab.spread import MARGIN
from resnet_core.config import ExperimentConfig
from resnet_core.results import ExperimentLog, tag
from serving import cache
from serving.cost import estimate_text
from serving.limits import HostLimits


def final(rows: dict[tuple[str, int], tuple[float, float]]) -> pd.DataFrame:
    """An ExperimentLog.final_frame() from {(block, seed): (plain error, residual error)}."""
    return pd.DataFrame(
        [
            {"block": block, "seed": seed, "variant": variant, "train_error": error}
            for (block, seed), errors in rows.items()
            for variant, error in zip(("plain", "residual"), errors, strict=True)
        ]
    )


def test_pre_wins_only_when_lower_by_the_margin_on_every_seed() -> None:
    verdicts = T.training_verdicts(
        final({("post", 0): (0.9, 0.40), ("post", 1): (0.9, 0.30), ("pre", 0): (0.9, 0.02), ("pre", 1): (0.9, 0.05)})
    )
    assert verdicts["residual"].outcome == "pre" and verdicts["plain"].outcome == "none"
    assert verdicts["residual"].gap.values == pytest.approx((0.38, 0.25))
    lines = T.training_story(verdicts)
    assert lines[0].startswith("**Residual:** final training error post-activation **35.0% [30.0%–40.0%]**")
    assert "the pre-activation unit trains better on every seed (2 of 2)" in lines[0]
    assert lines[1].startswith("**Plain:**") and "no clear difference" in lines[1]


def test_post_wins_and_mixed_seeds_say_no_clear_difference() -> None:
    post_wins = T.training_verdicts(final({("post", 0): (0.1, 0.1), ("pre", 0): (0.5, 0.5)}))
    assert post_wins["residual"].outcome == "post"
    assert "post-activation unit trains better on this seed" in T.training_story(post_wins)[0]
    mixed = T.training_verdicts(
        final({("post", 0): (0.5, 0.5), ("post", 1): (0.5, 0.1), ("pre", 0): (0.5, 0.1), ("pre", 1): (0.5, 0.5)})
    )
    assert mixed["residual"].outcome == "none"
    assert (
        "no clear difference: pre is lower by more than 2% on 1 of 2 seeds, post on 1 of 2 seeds" in (T.training_story(mixed)[0])
    )
    inside = T.training_verdicts(final({("post", 0): (0.5, 0.1 + MARGIN / 2), ("pre", 0): (0.5, 0.1)}))
    assert inside["residual"].outcome == "none"  # a gap smaller than MARGIN is no difference


def test_the_heading_asks_what_the_verdict_measures() -> None:
    heading = T.question(ExperimentConfig(steps=37))
    assert "lower training error in 37 steps" in heading and "faster" not in heading


def test_both_figures_name_the_units_with_the_one_wording() -> None:
    final_names = set(T.final_error_figure(final({("post", 0): (0.5, 0.4), ("pre", 0): (0.5, 0.1)})).data[0].x)
    blocks = pd.DataFrame(
        [{"unit": u, "variant": v, "block": b, "value": 1.0} for u in P.UNIT_NAMES for v in ("plain", "residual") for b in (1, 2)]
    )
    init_names = {trace.name for trace in P.unit_figure(blocks).data}
    assert final_names == set(P.UNIT_NAMES.values())
    assert init_names == {f"{v}, {name}" for v in ("plain", "residual") for name in P.UNIT_NAMES.values()}
    legend = P.unit_figure(blocks).layout.legend  # four entries wrap: above the plot they covered the title
    assert (legend.yref, legend.y, legend.yanchor) == ("container", 0, "bottom")


def test_only_seeds_where_both_units_finished_count() -> None:
    verdicts = T.training_verdicts(final({("post", 0): (0.5, 0.5), ("post", 1): (0.5, 0.5), ("pre", 0): (0.5, 0.1)}))
    assert verdicts["residual"].seeds == 1  # seed 1 has no pre run yet
    assert T.training_verdicts(final({("post", 0): (0.5, 0.5)})) == {}  # one unit alone: no verdict
    assert T.training_story({}) == []


def test_the_method_note_names_the_error_definition_for_the_norm() -> None:
    assert error_method("batch") in T.method_note(ExperimentConfig(norm="batch"))
    assert "re-estimated on the training set" in error_method("batch")
    assert "BatchNorm" not in T.method_note(ExperimentConfig(norm="none"))


def test_page_trains_both_units_per_seed_and_draws_the_workers_numbers(cache_dir: Path) -> None:
    query = SIGMOID | {"steps": "6", "batch_size": "32", "seeds": "2"}
    at = open_page(PREACTIVATION.file, query)
    assert not at.exception
    info = next(i.value for i in at.info if "4 of 4 training runs to compute" in i.value)
    assert not [s for s in chart_specs(at) if "Final training error" in s["title"]]  # nothing trained before the button
    png_names = [json.loads(c.proto.config)["toImageButtonOptions"]["filename"] for c in at.get("plotly_chart")]
    differs = "dataset-spirals_width-8_norm-none_activation-sigmoid_init-xavier_steps-6_batch_size-32"
    assert f"preactivation_mlp-8_A_l2-1e-4_{differs}_units" in png_names  # only what differs from the page's defaults
    command = next(t.value for t in at.text if "resnet_core sweep" in t.value)
    assert "--block post,pre" in command and "--seed 0,1" in command and "--steps 6" in command
    at.button(key="science_run").click().run()
    assert not at.exception
    config = PREACTIVATION.defaults.replace(**{k: int(v) if v.isdigit() else v for k, v in query.items() if k != "seeds"})
    configs = [config.replace(block=unit, seed=seed) for unit in ("post", "pre") for seed in (0, 1)]
    assert estimate_text([[c] for c in configs], HostLimits.from_settings().workers) in info  # shown before the button
    expected = ExperimentLog()
    for unit in ("post", "pre"):
        for seed in (0, 1):
            records = cache.get("train", config.replace(block=unit, seed=seed))
            assert records is not None, f"{unit} seed {seed} was not trained under the page's config"
            expected.extend(tag(records, block=unit, seed=seed))
    want = expected.final_frame()
    figure = chart(at, "Final training error with each unit")
    seeds = next(t for t in figure["data"] if t["name"] == "residual: each seed")
    got = decode(seeds["y"])
    residual = want[want["variant"] == "residual"]
    assert np.allclose(sorted(got), sorted(residual["train_error"]), rtol=1e-6)
    story = [m.value for m in at.markdown if m.value.startswith(("**Residual:** final", "**Plain:** final"))]
    assert story == T.training_story(T.training_verdicts(want))
