"""The Shattered gradients & landscapes page through AppTest: the numbers and sentences on screen are the engine's."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
from conftest import ROOT, chart_specs, decode
from streamlit.testing.v1 import AppTest

from lab import landscape as L
from lab.pages import LANDSCAPE, THEORY
from resnet_core.config import ExperimentConfig
from resnet_core.landscape import landscape_records
from resnet_core.shattered import shattered_records
from resnet_core.specs import ShatterSpec, SliceSpec

TINY = {"depth": "8", "width": "4", "steps": "6", "batch_size": "32", "sg_depth": "8", "sg_seeds": "3"}


def open_page(query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / LANDSCAPE.file), default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def chart(at: AppTest, title_part: str) -> dict:
    matches = [s for s in chart_specs(at) if title_part in s["title"]]
    assert matches, [s["title"] for s in chart_specs(at)]
    return matches[-1]


def test_shattered_gradients_are_measured_on_load_and_follow_the_controls(cache_dir: Path) -> None:
    at = open_page(TINY)
    assert not at.exception and not at.error
    expected = L.ShatterLog().extend(shattered_records(ShatterSpec(depth=8, seeds=3))).lag1()
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["plain: lag-1 autocorrelation"] == f"{expected['plain'].mean:.2f}"
    assert metrics["residual: lag-1 autocorrelation"] == f"{expected['residual'].mean:.2f}"
    assert any(m.value == L.shatter_story(expected, ShatterSpec(depth=8, seeds=3)) for m in at.markdown)
    acf = chart(at, "Autocorrelation of dy/dx")
    assert len(acf["data"]) == 2 * (3 + 1)  # three seeds and the mean, per net
    gradients = chart(at, "Gradient dy/dx")
    assert [t["name"] for t in gradients["data"]] == ["plain", "residual"] and len(decode(gradients["data"][0]["x"])) == 256

    at.radio(key="sg_norm").set_value("none").run()
    assert not at.exception
    unnormalised = L.ShatterLog().extend(shattered_records(ShatterSpec(depth=8, seeds=3, norm="none"))).lag1()
    assert next(m.value for m in at.metric if m.label.startswith("plain")) == f"{unnormalised['plain'].mean:.2f}"

    at.radio(key="sg_skip").set_value("layer").run()  # a shortcut around every layer
    assert not at.exception
    every_layer = L.ShatterLog().extend(shattered_records(ShatterSpec(depth=8, seeds=3, norm="none", skip="layer"))).lag1()
    assert next(m.value for m in at.metric if m.label.startswith("residual")) == f"{every_layer['residual'].mean:.2f}"


def test_the_button_trains_the_pair_and_draws_both_slices_with_the_measured_story(cache_dir: Path) -> None:
    at = open_page(TINY)
    assert not [s for s in chart_specs(at) if "slices" in s["title"]]  # nothing trained before the button
    at.button(key="landscape_run").click().run()
    assert not at.exception and not at.error
    config = ExperimentConfig(depth=8, width=4, steps=6, batch_size=32, measure_every=150, eval_every=150)
    log = L.LandscapeLog().extend(landscape_records(config, SliceSpec()))
    story = L.landscape_story(log.summary(), log.n_params["residual"], SliceSpec().directions)
    assert any(m.value == story for m in at.markdown)
    lines = chart(at, "1-D slices")
    assert lines["layout"]["yaxis"]["type"] == "log" and lines["layout"]["yaxis"]["dtick"] == 1
    plain_first = next(t for t in lines["data"] if t["name"] == "plain, direction 1")
    assert np.allclose(decode(plain_first["y"]), log.lines["plain"]["loss"][0], rtol=1e-5)
    contours = [t for t in chart(at, "2-D slices")["data"] if t["type"] == "contour"]
    assert len(contours) == 2
    assert np.allclose(10 ** decode(contours[1]["z"]), np.asarray(log.surfaces["residual"]["loss"]), rtol=1e-4)


def test_bad_url_values_are_dropped_with_a_warning(cache_dir: Path) -> None:
    at = open_page(TINY | {"sg_depth": "7"})
    assert not at.exception
    assert any("**sg_depth**" in w.value for w in at.warning)


def test_spec_kind_names_every_field_so_each_spec_has_its_own_cache_entry() -> None:
    kind = L.spec_kind("landscape", SliceSpec())
    assert all(field.name in kind for field in dataclasses.fields(SliceSpec))
    assert kind != L.spec_kind("landscape", SliceSpec(directions=2))


def test_theory_links_its_shattered_and_landscape_claims_to_this_page() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(THEORY.file).run()
    assert not at.exception
    links = [element.proto for element in at.get("page_link")]
    targets = [link.label for link in links if LANDSCAPE.url_path in link.page]
    assert any("Shattered gradients" in label for label in targets) and any("Loss landscapes" in label for label in targets)
