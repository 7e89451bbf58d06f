"""The science pages through Streamlit's AppTest: no exception, controls change the charts' data, measured numbers shown.

Expected values come from the engine and lab modules run directly, not from the page.
Settings are tiny (depth 8-20, width 4, a few steps) so each page trains in seconds.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, chart_specs, decode
from streamlit.testing.v1 import AppTest

from lab import degradation as D
from lab import nets as N
from lab.errors import error_method
from lab.pages import THEORY
from resnet_core.config import ExperimentConfig
from resnet_core.results import ExperimentLog, tag
from serving import cache

TINY = {"width": "4", "steps": "6", "eval_every": "3", "batch_size": "32"}
TINY_CONFIG = ExperimentConfig(width=4, steps=6, eval_every=3, batch_size=32)


def open_page(name: str, query: dict[str, str | list[str]]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / f"{name}.py"), default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def chart(at: AppTest, title_part: str) -> dict:
    matches = [s for s in chart_specs(at) if title_part in s["title"]]
    assert matches, f"no chart titled like {title_part!r}: {[s['title'] for s in chart_specs(at)]}"
    return matches[-1]


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def test_degradation_trains_each_depth_and_plots_the_engines_numbers(cache_dir: Path) -> None:
    at = open_page("degradation", TINY | {"depths": ["8", "20"], "measure_every": "6", "seeds": "2"})
    assert not at.exception
    assert any("4 of 4 training runs to compute" in i.value for i in at.info)
    assert not chart_specs(at)  # nothing is computed or drawn before the button, not even a timing probe
    at.button(key="science_run").click().run()
    assert not at.exception
    config = ExperimentConfig(lr=0.05, measure_every=6, **{k: int(v) for k, v in TINY.items()})
    expected = ExperimentLog()  # the workers' records, as cached (a retrain here could run at another thread count)
    for depth in (8, 20):
        for seed in (0, 1):
            expected.extend(tag(cache.get("train", config.replace(depth=depth, seed=seed)), depth=depth, seed=seed))
    expected = expected.final_frame()
    final = chart(at, "Final training error vs depth")
    for variant in ("plain", "residual"):
        want = expected[expected["variant"] == variant].groupby("depth")["train_error"].mean()  # the seed mean
        assert np.allclose(decode(trace(final, variant)["y"]), want, rtol=1e-5)
        assert decode(trace(final, variant)["x"]).tolist() == [8, 20]
    assert chart(at, "first-layer / last-layer")["layout"]["yaxis"]["type"] == "log"
    assert any(m.value.startswith("**Plain:** 20 layers end at") for m in at.markdown)

    at.multiselect(key="depths").set_value([8, 20, 32]).run()  # a new depth is trained on demand; 8 and 20 are cached
    assert not at.exception
    assert any("2 of 6 training runs to compute; the rest is cached" in i.value for i in at.info)  # depth 32, both seeds


def test_degradation_warns_about_bad_url_depths_and_needs_two(cache_dir: Path) -> None:
    at = open_page("degradation", TINY | {"depths": ["20", "57"]})
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert any("**depths**: `57` is not one of" in w for w in warnings) and any("at least two depths" in w for w in warnings)
    assert "57" not in str(at.query_params["depths"]) and at.multiselect(key="depths").value == [20]  # URL and widget agree


def test_degradation_names_the_url_depths_over_its_limit(cache_dir: Path) -> None:
    """The multiselect keeps the first four of six silently; the page says which were dropped and why."""
    depths = [str(d) for d in D.DEGRADATION_DEPTHS]
    at = open_page("degradation", TINY | {"depths": depths})
    assert not at.exception
    most = at.multiselect(key="depths").proto.max_selections  # the widget's own cap
    assert 2 <= most < len(depths)
    dropped = ", ".join(depths[most:])
    assert f"URL parameter **depths**: at most {most} values; ignored `{dropped}`." in [w.value for w in at.warning]
    assert at.multiselect(key="depths").value == list(D.DEGRADATION_DEPTHS[:most])
    assert at.query_params["depths"] == depths[:most]


def test_a_seed_range_past_the_last_seed_is_refused_before_any_button(cache_dir: Path) -> None:
    """The runs are built inside ui.science.train_and_draw: seed 2^31 - 1 and the next is a refusal, not a traceback."""
    at = open_page("degradation", TINY | {"depths": ["8", "20"], "seed": str(2**31 - 1), "seeds": "2"})
    assert not at.exception
    assert [e.value for e in at.error if e.value.startswith("This experiment can't run:") and "seed" in e.value]
    assert not [b for b in at.button if b.label == "Train all depths"]  # the page ended at the refusal


def test_identity_at_alpha_zero_measures_exactly_zero_for_identity_blocks(cache_dir: Path) -> None:
    at = open_page("identity", TINY | {"depth": "20", "alpha": "0.0", "l2s": ["0", "0.1"]})
    assert not at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["residual: max |a[l+2] − a[l]|"] == "0.0 exactly"
    assert metrics["plain: output std over the batch"] == "0"
    assert float(metrics["residual: output std over the batch"]) > 0
    assert any("returns its input exactly" in s.value for s in at.success)
    plain_outputs = decode(trace(chart(at, "Std of each block's output"), "plain")["y"])
    assert (plain_outputs == 0).all() and len(plain_outputs) == 9

    at.select_slider(key="alpha").set_value(1.0).run()
    assert not at.exception
    assert float(next(m.value for m in at.metric if m.label.startswith("residual: max |a[l+2]"))) > 0.1
    assert (decode(trace(chart(at, "Std of each block's output"), "plain")["y"]) > 0).all()


def test_identity_with_projections_everywhere_says_there_is_no_identity_block(cache_dir: Path) -> None:
    at = open_page("identity", TINY | {"depth": "8", "alpha": "0.0", "shortcut": "C", "l2s": ["0", "0.1"]})
    assert not at.exception
    assert {m.label: m.value for m in at.metric}["residual: max |a[l+2] − a[l]|"] == "none"
    texts = [e.value for e in (*at.success, *at.info, *at.caption)]
    assert not any("nan" in t for t in texts)
    assert any("no residual block has an identity shortcut" in t for t in texts)
    caption = next(t for t in texts if "projection shortcut" in t)
    assert "The 2 transition blocks change the shape" in caption and "The other 1 block keeps the shape" in caption


def test_identity_trains_from_scaled_weights_and_runs_the_l2_sweep(cache_dir: Path) -> None:
    at = open_page("identity", TINY | {"depth": "8", "alpha": "0.0", "l2s": ["0", "0.1"], "seeds": "2"})
    at.button(key="alpha_run").click().run()
    assert not at.exception
    curves = chart(at, "Training error after scaling the branches")
    assert {t["name"] for t in curves["data"] if "name" in t} == {"plain", "residual"}
    at.button(key="l2_run").click().run()
    assert not at.exception
    weights = chart(at, "||W|| per layer")
    means = [t for t in weights["data"] if t.get("fill") != "toself"]
    assert [t["name"] for t in means] == ["plain, L2 0", "plain, L2 0.1", "residual, L2 0", "residual, L2 0.1"]
    assert len(decode(means[0]["x"])) == 8  # stem, 3 blocks x 2 layers, classifier
    for title in ("||W|| per layer", "Residual branch size", "Std of each block's branch response"):
        spec = chart(at, title)  # two seeds: every line has its seed band
        assert sum(t.get("fill") == "toself" for t in spec["data"]) == sum(t.get("fill") != "toself" for t in spec["data"])
    ratio = chart(at, "Residual branch size")
    assert [t["name"] for t in ratio["data"] if "name" in t] == ["L2 0", "L2 0.1"] and ratio["layout"]["yaxis"]["type"] == "log"
    assert any("seed" in m.value and "Branch response std" in m.value for m in at.markdown)


def test_identity_warns_that_the_argument_needs_relu(cache_dir: Path) -> None:
    at = open_page("identity", TINY | {"depth": "8", "alpha": "0.0", "activation": "tanh"})
    assert not at.exception
    assert any("holds for ReLU" in w.value for w in at.warning)


def test_shortcuts_page_shows_measured_shapes_counts_and_trains_all_four(cache_dir: Path) -> None:
    at = open_page("shortcuts", TINY | {"depth": "8", "measure_every": "3", "seeds": "2"})
    assert not at.exception
    counts = at.dataframe[1].value.set_index("model")
    assert counts.iloc[1].to_dict() == N.parameter_counts(ExperimentConfig(depth=8, width=16), (3, 32, 32), 10)
    shapes = at.dataframe[0].value
    assert shapes.loc[shapes["transition"] == "◆ yes", "in"].tolist() == ["4x8x8", "8x4x4"]
    assert not at.code  # only on request: st.code makes the browser download and run a 1.56 MB code highlighter
    at.toggle(key="code").set_value(True).run()
    assert any("Block(nn.Module)" in c.value for c in at.code)  # the engine's source, read with ast
    diagram_text = " ".join(a.get("text", "") for a in chart(at, "transition block")["layout"]["annotations"])
    assert "zero-pad" in diagram_text

    at.radio(key="shortcut").set_value("B").run()
    diagram_text = " ".join(a.get("text", "") for a in chart(at, "transition block")["layout"]["annotations"])
    assert "W_s" in diagram_text and "zero-pad" not in diagram_text

    at.button(key="shortcuts_run").click().run()
    assert not at.exception
    curves = chart(at, "options A, B, C")
    assert {t["name"] for t in curves["data"] if "name" in t} == {"plain", "A", "B", "C"}
    assert any("Every option trains better than the plain net" in m.value for m in at.markdown)
    assert any(m.value.startswith("Measured: in the blocks that change shape") for m in at.markdown)
    grads = chart(at, "Mean gradient norm per layer")
    assert grads["layout"]["yaxis"]["type"] == "log" and len(grads["layout"]["shapes"]) > 0


@pytest.mark.parametrize("page", ["degradation", "identity", "shortcuts", "theory"])
def test_every_science_page_opens_from_the_app(page: str, cache_dir: Path) -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    for key, value in TINY.items():
        at.query_params[key] = value
    at.run()
    at.switch_page(f"views/{page}.py").run()
    assert not at.exception
    assert at.title[0].value


def test_theory_renders_the_equations_links_and_references() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    at.switch_page(THEORY.file).run()
    assert not at.exception
    latex = " ".join(e.value for e in at.latex)
    assert r"g\!\left(z^{[l+2]} + a^{[l]}\right)" in latex and "W_s" in latex
    assert r"\left(1 + \frac{\partial F}{\partial a^{[l]}}\right)" in latex
    links = " ".join(m.value for m in at.markdown)
    for arxiv in ("1512.03385", "1603.05027", "1605.06431", "1702.08591", "1712.09913", "1902.08129"):
        assert f"https://arxiv.org/abs/{arxiv}" in links


def test_share_link_keeps_the_pages_own_multi_value_settings(cache_dir: Path) -> None:
    """?depths=8&depths=20 is part of the view: the share box must hand it on, repeated keys and all."""
    at = open_page("degradation", {"depths": ["8", "20"], "width": "4", "present": "1"})
    assert not at.exception
    link = " ".join(b.proto.url for b in at.get("link_button"))
    assert "depths=8&depths=20" in link and "width=4" in link
    assert "present=" not in link  # a shared view opens in the viewer's own mode


@pytest.mark.parametrize("page", ["gradient_flow", "identity", "shortcuts", "lesion"])
def test_pages_with_trained_errors_say_how_error_is_measured(page: str, cache_dir: Path) -> None:
    """Issue 11: the one definition of error is said in every page's text that shows trained errors, in one wording."""
    at = open_page(page, {**TINY, "depth": "8", "norm": "batch"})
    assert not at.exception
    text = " ".join(e.value for e in [*at.caption, *at.markdown])
    assert error_method("batch") in text
