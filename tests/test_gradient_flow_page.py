"""The Gradient Flow page through Streamlit's AppTest: URL and widgets drive the charts, bad input warns, Train works.

Expected numbers come from the engine directly (measure_init / RunLog), not from the page.
"""

from __future__ import annotations

import io
import json
import os
import signal
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl

import numpy as np
import pandas as pd
import pytest
from conftest import ROOT, chart_specs, decode
from streamlit.testing.v1 import AppTest

from lab import gradient_flow as readings
from lab.pages import GRADIENT_FLOW
from lab.style import LEGEND
from resnet_core.config import ExperimentConfig
from resnet_core.results import RunLog
from resnet_core.training import measure_init, train
from serving import cache
from serving.job import CANCELLED, Job, JobRequest
from serving.jobs import executor
from serving.limits import HostLimits, apply_thread_limit
from ui.exports import plotly_config, run_json_text, view_name
from ui.runner import ACTIVE_KEY, Run, view_key

APP = str(ROOT / "app.py")
PAGE = GRADIENT_FLOW.defaults  # the page's own defaults
pytestmark = pytest.mark.usefixtures("cache_dir")  # every test gets its own result cache
TINY = {"arch": "mlp", "dataset": "moons", "depth": "4", "width": "4", "steps": "12", "n_samples": "200", "eval_every": "6"}


def open_page(query: dict[str, str] | None = None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=180)
    for key, value in (query or {}).items():
        at.query_params[key] = value
    return at.run()


def chart(at: AppTest, title_part: str) -> dict:
    matches = [s for s in chart_specs(at) if title_part in s["title"]]
    assert matches, f"no chart titled like {title_part!r}: {[s['title'] for s in chart_specs(at)]}"
    return matches[0]


def trace(spec: dict, name: str) -> dict:
    return next(t for t in spec["data"] if t.get("name") == name)


def layer_count(at: AppTest) -> int:
    return len(decode(trace(chart(at, "Weight-gradient norm per layer"), "plain")["x"]))


def test_landing_page_shows_init_gradients_matching_the_engine() -> None:
    at = open_page({"depth": "8", "width": "4"})
    assert not at.exception
    config = ExperimentConfig(depth=8, width=4)
    expected = RunLog(config).extend(measure_init(config))
    plain = trace(chart(at, "Weight-gradient norm per layer at initialisation"), "plain")
    recorded = expected.layer_frame().query("variant == 'plain' and metric == 'grad_norm' and kind == 'main'")["value"]
    assert np.allclose(decode(plain["y"]), recorded, rtol=1e-5)
    assert chart(at, "Activation-gradient norm per block")["layout"]["yaxis"]["type"] == "log"
    assert readings.gradient_reading(expected) in [m.value.lstrip("# ") for m in at.markdown]
    assert any("computed on cpu" in c.value or "computed on cuda" in c.value for c in at.caption)


def test_the_page_default_trains_the_residual_net_and_leaves_the_plain_net_failing() -> None:
    """The page's story at its own default (seed 0, what a visitor's Train shows): with BatchNorm the plain-56
    gradient grows toward the input by hundreds, the residual net's stays near 1, and in the default's steps the
    residual net fits the training set while the plain net stays near chance. A default cut too short (the residual
    net still learning) fails here; the seeds nobody tuned to are in benchmarks/RESULTS.md."""
    log = RunLog(PAGE).extend(train(PAGE))
    assert log.ratio("plain") > 100 and 0.2 < log.ratio("residual") < 20
    assert log.final["residual"]["train_error"] < 0.05
    assert log.final["plain"]["train_error"] > 0.5


def test_image_size_through_the_url_and_the_widget_reaches_the_engine() -> None:
    """?image_size=16 (the slider's grid), then 32 on the slider: the charts are the engine's records at that size.

    The expected records are computed at the workers' thread count: on 32x32 maps BN's channels_last reductions
    split across threads and the last digits move, enough to flip a few ReLUs (~2e-3 relative at one thread vs two;
    docs/SCIENCE_NOTES.md 11), so they are compared like for like."""
    apply_thread_limit(HostLimits.from_settings())  # restored by conftest's torch_threads
    at = open_page({"depth": "8", "width": "4", "image_size": "16"})
    assert not at.exception and at.select_slider(key="image_size").value == 16
    for size in (16, 32):
        if size == 32:
            at.select_slider(key="image_size").set_value(32).run()
            assert not at.exception
        config = ExperimentConfig(depth=8, width=4, image_size=size)
        expected = RunLog(config).extend(measure_init(config))
        plain = trace(chart(at, "Weight-gradient norm per layer at initialisation"), "plain")
        recorded = expected.layer_frame().query("variant == 'plain' and metric == 'grad_norm' and kind == 'main'")["value"]
        assert np.allclose(decode(plain["y"]), recorded, rtol=1e-5)
        assert any(f"{size}x{size} inputs" in c.value for c in at.caption)


def test_default_view_is_depth_56() -> None:
    at = open_page()
    assert not at.exception
    assert at.selectbox(key="depth").value == "56"
    assert layer_count(at) == 56


def test_depth_through_the_url_and_through_the_widget_changes_the_chart() -> None:
    at = open_page({"depth": "14", "width": "4"})  # a free value, not one of the presets
    assert layer_count(at) == 14
    at.selectbox(key="depth").set_value("8").run()
    assert not at.exception and layer_count(at) == 8


def test_shortcut_through_the_url_and_the_widget_adds_projections() -> None:
    def projections(at: AppTest) -> int:
        spec = chart(at, "Weight-gradient norm per layer")
        return sum(len(decode(t["x"])) for t in spec["data"] if "projection" in t.get("name", ""))

    at = open_page({"depth": "8", "width": "4", "shortcut": "C"})
    assert projections(at) == 3  # option C: a projection on each of the 3 blocks
    at.radio(key="shortcut").set_value("B").run()
    assert projections(at) == 2  # option B: only where the shape changes (stages 2 and 3)
    at.radio(key="shortcut").set_value("A").run()
    assert projections(at) == 0


def test_l2_through_the_widget_and_the_url_changes_the_share_link_and_training() -> None:
    at = open_page(TINY)
    at.select_slider(key="l2").set_value(0.01).run()
    assert not at.exception
    assert any("l2=0.01" in b.proto.url for b in at.get("link_button"))
    at2 = open_page(TINY | {"l2": "0.01"})
    for page in (at, at2):
        next(b for b in page.button if b.label == "Train both nets").click().run()
    losses = [decode(trace(chart(page, "Training loss"), "plain")["y"]) for page in (at, at2)]
    assert np.allclose(losses[0], losses[1])  # the same setting by widget or by URL: the same run
    at3 = open_page(TINY | {"l2": "0.0"})
    next(b for b in at3.button if b.label == "Train both nets").click().run()
    assert not np.allclose(decode(trace(chart(at3, "Training loss"), "plain")["y"]), losses[0])


def test_bad_url_values_warn_and_fall_back_to_defaults() -> None:
    at = open_page({"depth": "abc", "shortcut": "Z", "l2": "-1"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "depth" in warnings and "shortcut" in warnings and "l2" in warnings
    assert at.selectbox(key="depth").value == "56" and at.radio(key="shortcut").value == "A"
    assert layer_count(at) == 56


@pytest.mark.parametrize(
    "field, raw, shown",
    [
        ("seed", "inf", 0),
        ("steps", "1e999", PAGE.steps),
        ("width", "-inf", 8),
        ("batch_size", "9" * 400, 64),
        ("width", "9.7", 8),
    ],
)
def test_a_number_the_widget_cant_hold_is_dropped_and_the_widget_shows_what_the_warning_says(
    field: str, raw: str, shown: int
) -> None:
    """Streamlit's number widget read ?seed=inf before the page did (OverflowError), and showed 9 for ?width=9.7."""
    at = open_page({field: raw, "depth": "8"})
    assert not at.exception
    warnings = [w.value for w in at.warning]
    assert len(warnings) == 1 and f"**{field}**" in warnings[0] and "allowed" in warnings[0]
    assert f"Using the default, `{shown}`" in warnings[0] and at.number_input(key=field).value == shown
    assert field not in at.query_params and at.query_params["depth"] == "8"


def test_url_combination_the_engine_rejects_warns_and_falls_back() -> None:
    at = open_page({"depth": "52"})  # not 6n+2 for the CNN
    assert not at.exception
    assert any("depth" in w.value and "6n+2" in w.value for w in at.warning)
    assert layer_count(at) == 56


def test_widget_combination_the_engine_rejects_is_an_error_message() -> None:
    at = open_page({"depth": "8", "width": "4"})
    at.selectbox(key="dataset").set_value("moons").run()  # 2-D data for the CNN
    assert not at.exception
    assert any("dataset" in e.value and "image set" in e.value for e in at.error)


def test_switching_to_cnn_repairs_dataset_and_depth() -> None:
    at = open_page({"arch": "mlp", "dataset": "moons", "depth": "10", "width": "4"})
    at.selectbox(key="arch").set_value("cnn").run()
    assert not at.exception and not at.error
    assert at.selectbox(key="dataset").value == "digits" and at.selectbox(key="depth").value == "8"


def test_tiny_training_run_draws_curves_heatmap_boundary_and_is_cached(cache_dir: Path) -> None:
    at = open_page(TINY)
    next(b for b in at.button if b.label == "Train both nets").click().run()
    assert not at.exception
    titles = " | ".join(s["title"] for s in chart_specs(at))
    for part in ("Training loss", "Training and test error", "layer x step", "Decision boundary", "Gradients before update"):
        assert part in titles
    assert len(decode(trace(chart(at, "Training loss"), "residual")["y"])) == 12
    assert any(m.value.startswith("#### Error after 12 steps, training set: plain") for m in at.markdown)
    assert {b.label for b in at.get("download_button")} >= {"Download CSV (per-layer records)", "Download JSON (whole run)"}
    (stored,) = cache_dir.glob("train-*.json")  # the boundary comes with the run: computed where the trained nets live
    assert '"kind": "boundary"' in stored.read_text()
    # a new session opening the same link sees the finished run without training
    again = open_page(TINY)
    assert "Decision boundary" in " | ".join(s["title"] for s in chart_specs(again))
    # every legend sits at the bottom of its figure, under the x axis's title, whatever the screen's width: beside the
    # title it covered the title on a phone, below the plot in paper coordinates the axis title (the replay: own rows)
    legends = [s["layout"]["legend"] for s in chart_specs(at) if "legend" in s["layout"] and not s.get("frames")]
    assert len(legends) >= 8 and all(legend == {**legend, **LEGEND} for legend in legends)


def test_the_trained_run_replays_every_recorded_step_in_the_browser() -> None:
    """One figure holds every measured step as a frame: scrubbing and Play never rerun the script."""
    at = open_page(TINY | {"measure_every": "5"})
    next(b for b in at.button if b.label == "Train both nets").click().run()
    (spec,) = [s for s in chart_specs(at) if s.get("frames")]
    assert [frame["name"] for frame in spec["frames"]] == ["0", "5", "10", "11"]
    slider = spec["layout"]["sliders"][0]
    assert [step["label"] for step in slider["steps"]] == ["1", "6", "11", "12"]  # step 11 is the gradient of update 12 of 12
    assert slider["currentvalue"]["suffix"] == " of 12"
    # the legend in its own row under the plots: in container coordinates (the shared LEGEND's) a y below 0 hid it
    legend = spec["layout"]["legend"]
    assert legend["yref"] == "paper" and slider["y"] < legend["y"] < 0
    assert {t["name"] for t in spec["data"] if t.get("showlegend", True)} == {"plain", "residual"}

    def buttons(layout: dict) -> list[dict]:  # every menu's: the single steps (updated per frame), the player
        return [b for menu in layout["updatemenus"] for b in menu["buttons"]]

    assert {b["label"] for b in buttons(spec["layout"])} == {
        "◀ Step",
        "▶ Play",
        "❚❚ Pause",
        "Step ▶",
        "⟲ Reset",
    }

    # dark labels on light buttons in both themes: a hovered button turns near-white, which hid the dark theme's labels
    assert all(not m["showactive"] and m["font"]["color"] == "#111111" for m in spec["layout"]["updatemenus"])

    def neighbours(layout: dict) -> dict[str, str]:  # the frame each step button goes to
        return {b["label"]: b["args"][0][0] for b in buttons(layout) if "Step" in b["label"]}

    assert neighbours(spec["layout"]) == {"◀ Step": "10", "Step ▶": "11"}  # opened on the last frame: forward holds
    assert [neighbours(frame["layout"]) for frame in spec["frames"]] == [
        {"◀ Step": "0", "Step ▶": "5"},
        {"◀ Step": "0", "Step ▶": "10"},
        {"◀ Step": "5", "Step ▶": "11"},
        {"◀ Step": "10", "Step ▶": "11"},
    ]
    frame = spec["frames"][1]  # step 5: the recorded per-layer gradients, the loss up to step 5
    assert "update 6 of 12" in frame["layout"]["title"]["text"]
    assert max(decode(frame["data"][-1]["x"])) == 5
    play = next(b for b in buttons(spec["layout"]) if b["label"] == "▶ Play")
    at.segmented_control(key="replay_speed").set_value("slow").run()
    (slow,) = [s for s in chart_specs(at) if s.get("frames")]
    slow_play = next(b for b in buttons(slow["layout"]) if b["label"] == "▶ Play")
    assert slow_play["args"][1]["frame"]["duration"] > play["args"][1]["frame"]["duration"]


def test_diverging_run_says_which_net_and_when() -> None:
    at = open_page(
        {
            "arch": "mlp",
            "dataset": "moons",
            "depth": "20",
            "width": "8",
            "norm": "none",
            "lr": "1.0",
            "steps": "10",
            "n_samples": "200",
            "momentum": "0.9",
        }
    )
    next(b for b in at.button if b.label == "Train both nets").click().run()
    assert not at.exception
    messages = " ".join(w.value for w in at.warning)
    assert "residual diverged at step 2" in messages


def test_stop_without_a_run_explains() -> None:
    at = open_page({"depth": "8", "width": "4"})
    next(b for b in at.button if b.label == "Stop").click().run()
    assert any("Nothing is running" in i.value for i in at.info)


def test_an_engine_killed_mid_training_ends_in_a_message_and_the_page_goes_on() -> None:
    """A native crash or an out-of-memory kill of the worker: this run ends with a message, never the server."""
    pool = executor()
    stop_watching = threading.Event()

    def kill_the_running_worker() -> None:
        while not stop_watching.is_set():
            running = [w for w in pool._workers if w.job is not None and w.job.request.kind == "train" and w.job.records]
            if running:
                os.kill(running[0].process.pid, signal.SIGKILL)
                return
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_running_worker, daemon=True)
    killer.start()
    at = open_page(TINY | {"steps": "100000", "eval_every": "100000"})
    next(b for b in at.button if b.label == "Train both nets").click().run()
    stop_watching.set()
    assert not at.exception
    assert any("The engine stopped on this setting" in e.value and "SIGKILL" in e.value for e in at.error)
    again = open_page(TINY)  # the next request gets a fresh worker
    next(b for b in again.button if b.label == "Train both nets").click().run()
    assert not again.exception and not again.error


def test_exports_are_strict_json_and_long_csv_with_named_files() -> None:
    config = ExperimentConfig(depth=8, width=4, l2=1e-4)
    log = RunLog(config).extend(measure_init(config))
    document = json.loads(run_json_text(log), parse_constant=lambda name: pytest.fail(f"{name} in strict JSON"))
    assert [run["variant"] for run in document["runs"]] == ["plain", "residual"]
    assert None in document["runs"][0]["init"]["branch_ratio"]  # the plain net's NaN ratio became null
    table = pd.read_csv(io.StringIO(log.export_frame().to_csv(index=False)))
    assert {"variant", "step", "layer", "metric", "value"} <= set(table.columns)
    assert view_name("gradient-flow", config, ExperimentConfig()) == "gradient-flow_cnn-8_A_l2-1e-4_width-4"
    assert view_name("gradient-flow", ExperimentConfig(l2=0.0), ExperimentConfig()) == "gradient-flow_cnn-20_A_l2-0"


def test_export_names_tell_apart_every_setting_that_changes_the_result() -> None:
    """Review: exports at 8 and 32 px (or zero / circular padding, BN or none) got the same file name."""
    base = ExperimentConfig(norm="none")
    variants = [base, base.replace(image_size=32), base.replace(padding="circular"), base.replace(norm="batch")]
    names = [view_name("gradient-flow", c, ExperimentConfig()) for c in variants]
    assert len(set(names)) == len(names)
    assert names[1] == "gradient-flow_cnn-20_A_l2-1e-4_norm-none_image_size-32"
    assert "lr_drops-100+200" in view_name("x", base.replace(steps=300, lr_drops="100,200"), base)
    assert view_name("x", base.replace(image_size=8), base) == view_name("x", base, base)  # the digits' own side is the default
    assert "data_path" not in view_name("x", base.replace(dataset="cifar10", data_path="/host/secret"), base)
    assert plotly_config("x")["toImageButtonOptions"]["filename"] == "x"


def test_a_pages_default_view_exports_under_a_short_name() -> None:
    """Review: Degradation's default export was named ..._steps-100_measure_every-100_eval_every-10, its own defaults."""
    page = ExperimentConfig(depth=20, lr=0.05, steps=100, measure_every=100, eval_every=10)  # views/degradation.py's
    assert view_name("degradation", page, page) == "degradation_cnn-20_A_l2-1e-4"
    assert view_name("degradation", page.replace(steps=150), page) == "degradation_cnn-20_A_l2-1e-4_steps-150"
    assert view_name("degradation", ExperimentConfig(depth=20), page) == (
        "degradation_cnn-20_A_l2-1e-4_steps-150_measure_every-5_eval_every-25"  # the engine's defaults differ from the page's
    )


def test_padding_in_the_url_and_the_forward_signal_and_optimiser_views() -> None:
    """?padding=circular reaches the engine; the signal chart quotes the measured ratio; the page measures the other
    padding and input size and reads the comparison; training adds the optimiser view."""
    query = {"depth": "8", "width": "4", "norm": "none", "padding": "circular", "steps": "6", "measure_every": "1"}
    at = open_page(query)
    assert not at.exception
    config = ExperimentConfig(depth=8, width=4, norm="none", padding="circular", steps=6, measure_every=1)
    expected = RunLog(config).extend(measure_init(config))
    signal = chart(at, "Forward signal")
    plain_init = trace(signal, "plain, init")
    wanted = expected.block_frame()
    wanted = wanted[(wanted["variant"] == "plain") & (wanted["metric"] == "out_ms")].sort_values("block")["value"]
    assert np.allclose(decode(plain_init["y"]), wanted, rtol=1e-5)
    assert any(m.value in readings.signal_reading(expected, 0) for m in at.markdown)
    others = [(c, RunLog(c.config).extend(measure_init(c.config))) for c in readings.padding_counterparts(config)]
    assert [c.label for c, _ in others] == ["zero padding", "32x32 inputs"]
    shown = [m.value for m in at.markdown]
    assert all(line in shown for line in readings.padding_story(expected, others))  # both counterparts measured by the page
    at.toggle(key="compare_padding").set_value(False).run()
    assert not any(m.value.startswith("With zero padding") for m in at.markdown)
    next(b for b in at.button if b.label == "Train both nets").click().run()
    assert not at.exception
    assert any("What the optimiser does" in h.value for h in at.subheader)
    assert chart(at, "Relative update lr·‖g‖/‖W‖ per layer")["layout"]["yaxis"]["type"] == "log"
    assert chart(at, "Relative update lr·‖g‖/‖W‖, layer x step")
    assert chart(at, "Effective gradient ‖g‖·‖W‖ per layer")["layout"]["yaxis"]["type"] == "log"
    assert any(m.value.startswith("**At initialisation** one SGD step") for m in at.markdown)


def test_a_comparison_over_the_hosts_budget_is_named_not_computed(monkeypatch: pytest.MonkeyPatch) -> None:
    """5 GFLOP: the page's own run (2.0) and the circular-padding init (0.9) fit, the 32x32 init (6.6) does not."""
    monkeypatch.setenv("RESNET_LAB_MAX_GFLOP", "5")
    at = open_page({"depth": "8", "width": "4", "norm": "none", "steps": "6", "measure_every": "1"})
    assert not at.exception
    assert any(c.value.startswith("With 32x32 inputs: not measured on this host") for c in at.caption)
    assert any(m.value.startswith("With circular padding:") for m in at.markdown)
    assert not any(m.value.startswith("With 32x32 inputs:") for m in at.markdown)


def test_a_stopped_retrain_never_turns_the_finished_run_into_a_stopped_one() -> None:
    """Issue 14: a finished run showed "Stopped at step 7 of 12" after a retrain of it was stopped part-way."""
    at = open_page(TINY)
    next(b for b in at.button if b.label == "Train both nets").click().run()
    request = JobRequest("train", ExperimentConfig.from_params(TINY), "lab.jobs:train_run")
    partial = [r for r in cache.get("train", request.config) if r["kind"] == "meta" or (r["kind"] == "step" and r["step"] <= 6)]
    retrain = Job(request, records=partial, state=CANCELLED)
    # the retrain's script run was interrupted by the Stop click, so the session still lists its (now stopped) job
    at.session_state[ACTIVE_KEY] = {view_key([Run(request)]): [retrain]}
    next(b for b in at.button if b.label == "Stop").click().run()
    assert not at.exception
    for check in (at, at.segmented_control(key="replay_speed").set_value("slow").run(), open_page(TINY)):
        assert not any("Stopped at step" in i.value for i in check.info)
        assert any(m.value.startswith("#### Error after 12 steps") for m in check.markdown)


def test_a_pinned_run_is_drawn_beside_the_next_one_on_the_same_axes() -> None:
    """Pin depth 4, train depth 8: each pair of charts holds the two runs' own records on one shared y-range."""
    at = open_page(TINY)
    next(b for b in at.button if b.label == "Train both nets").click().run()
    next(b for b in at.button if b.label == "Pin this run").click().run()
    assert dict(parse_qsl(at.query_params["pin"])) == TINY  # the pinned run's settings, in the URL
    assert any("This run is pinned" in c.value for c in at.caption)
    at.selectbox(key="depth").set_value("8").run()
    assert any(
        "Pinned: Depth (weight layers): 4." in c.value for c in at.caption
    )  # says what the pinned run is before this one trains
    next(b for b in at.button if b.label == "Train both nets").click().run()
    assert not at.exception
    beside = {c.proto.id.split("-")[-1]: json.loads(c.proto.spec) for c in at.get("plotly_chart") if "beside_" in c.proto.id}
    for what in ("loss", "error", "layers"):
        pinned, current = beside[f"beside_{what}_pinned"], beside[f"beside_{what}_current"]
        assert pinned["layout"]["yaxis"]["range"] == current["layout"]["yaxis"]["range"]
    for depth, side in (("4", "pinned"), ("8", "current")):  # each side is its own run, as the engine recorded it
        config = ExperimentConfig.from_params(TINY | {"depth": depth})
        curves = RunLog(config).extend(cache.get("train", config)).curve_frame()
        loss = beside[f"beside_loss_{side}"]
        assert np.allclose(decode(trace(loss, "plain")["y"]), curves[curves["variant"] == "plain"]["loss"])
        low, high = loss["layout"]["yaxis"]["range"]
        assert low < np.log10(curves["loss"].min()) and np.log10(curves["loss"].max()) < high
    at.button(key="unpin_run").click().run()
    assert "pin" not in at.query_params and not any("beside_" in c.proto.id for c in at.get("plotly_chart"))
