"""The Lesion & paths and Pre-activation pages through Streamlit's AppTest: measured numbers drawn, stories shown.

Expected values come from the engine run directly in this process (lab.jobs, resnet_core.training), not from the page.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, chart_specs, decode
from streamlit.testing.v1 import AppTest
from test_science_pages import chart

from lab import lesion as L
from lab import preactivation as P
from lab.jobs import lesion_run
from lab.pages import LESION, PREACTIVATION
from resnet_core.config import ExperimentConfig
from resnet_core.results import RunLog
from resnet_core.training import measure_init

TINY = {"depth": "8", "width": "4", "steps": "6", "batch_size": "32"}
SIGMOID = {
    "arch": "mlp",
    "dataset": "spirals",
    "depth": "8",
    "width": "8",
    "norm": "none",
    "activation": "sigmoid",
    "init": "xavier",
}


def open_page(file: str, query: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / file), default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def test_lesion_page_trains_deletes_and_tells_the_measured_story(cache_dir: Path) -> None:
    at = open_page(LESION.file, TINY)
    assert not at.exception
    assert any("option A's parameter-free map" in m.value for m in at.markdown)  # what happens at the transitions, on screen
    assert not chart_specs(at)  # nothing is computed before the button
    at.button(key="lesion_run").click().run()
    assert not at.exception
    config = ExperimentConfig(steps=6, measure_every=150, eval_every=150, depth=8, width=4, batch_size=32)
    records = list(lesion_run(config))
    expected = L.lesion_frame(records)
    single = chart(at, "one block deleted")
    for trace in single["data"]:
        want = expected[(expected["variant"] == trace["name"]) & (expected["mode"] == "single")]["test_error"]
        assert np.allclose(decode(trace["y"]), want, atol=2 / 360), trace["name"]  # two test images of slack
        assert decode(trace["x"]).tolist() == [1, 2, 3]
    assert {t["name"] for t in chart(at, "k random blocks")["data"]} == {"plain", "residual"}
    assert any(m.value.startswith("Deleting one block moves the residual net's test error") for m in at.markdown)
    paths = chart(at, "Paths of the residual net")
    assert decode(paths["data"][0]["y"]) == pytest.approx([1 / 8, 3 / 8, 3 / 8, 1 / 8])  # Binomial(3, 1/2)
    assert paths["layout"]["yaxis2"]["type"] == "log"
    assert any(m.value.startswith("The 3 blocks make 2^3 = 8 paths") for m in at.markdown)


def test_preactivation_page_measures_both_units_and_says_which_is_flatter(cache_dir: Path) -> None:
    at = open_page(PREACTIVATION.file, SIGMOID)
    assert not at.exception
    figure = chart(at, "Activation-gradient norm per block")
    assert [t["name"] for t in figure["data"]] == [
        "plain, post-activation",
        "residual, post-activation",
        "plain, pre-activation",
        "residual, pre-activation",
    ]
    assert figure["layout"]["yaxis"]["type"] == "log"
    config = ExperimentConfig(**{k: int(v) if v.isdigit() else v for k, v in SIGMOID.items()})
    logs = {unit: RunLog(config.replace(block=unit)).extend(measure_init(config.replace(block=unit))) for unit in ("post", "pre")}
    verdict = P.unit_verdict(P.block_gradients(logs))
    assert verdict is not None and verdict.outcome == "pre"  # the sigmoid on the shortcut path shrinks the post unit's gradient
    residual_pre = decode(figure["data"][3]["y"])
    assert residual_pre[0] / residual_pre[-1] == pytest.approx(verdict.pre, rel=1e-4)
    assert any("Taking g off the shortcut path" in m.value for m in at.markdown)


def test_unit_verdict_says_no_clear_difference_when_the_ratios_match() -> None:
    verdict = P.UnitVerdict(post=30.0, pre=25.0)
    assert verdict.outcome == "none" and P.unit_story(verdict)[1].startswith("No clear difference")
    assert P.UnitVerdict(post=0.0, pre=0.9).outcome == "pre"  # an underflowed gradient is never flat
    assert P.UnitVerdict(post=1.1, pre=1e-3).outcome == "post"


@pytest.mark.parametrize("page", [LESION, PREACTIVATION], ids=lambda p: p.url_path)
def test_new_pages_open_from_the_app(page, cache_dir: Path) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for key, value in TINY.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(page.file).run()
    assert not at.exception
    assert at.title[0].value
