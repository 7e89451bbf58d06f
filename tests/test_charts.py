"""Chart builders and readings: the numbers drawn are the numbers recorded, on the axes the lab promises.

Most tests feed hand-written records (known values, an oracle independent of the engine);
the last ones run the real engine on a tiny net to check the builders accept its output.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from lab import gradient_flow as readings
from lab import gradient_flow_charts as charts
from lab import style
from resnet_core.boundary import decision_grid
from resnet_core.config import ExperimentConfig
from resnet_core.models import build_pair
from resnet_core.results import RunLog
from resnet_core.training import measure_init, train

MAIN = [
    ("stem.layer.weight", 1),
    ("blocks.0.layer1.weight", 2),
    ("blocks.0.layer2.weight", 3),
    ("blocks.1.layer1.weight", 4),
    ("blocks.1.layer2.weight", 5),
    ("fc.weight", 6),
]
PROJECTION = ("blocks.0.shortcut.projection.weight", 3)


def layers(variant: str) -> list[dict]:
    rows = [{"name": n, "index": i, "kind": "main"} for n, i in MAIN]
    if variant == "residual":
        rows.insert(3, {"name": PROJECTION[0], "index": PROJECTION[1], "kind": "shortcut"})
    return rows


def step_record(variant: str, step: int, grads: list[float], act_grads: list[float]) -> dict:
    n = len(grads)
    return {
        "kind": "step",
        "variant": variant,
        "step": step,
        "loss": 2.0 / (step + 1),
        "batch_error": 0.5 / (step + 1),
        "grad_norm": grads,
        "weight_norm": [1.0] * n,
        "act_grad_norm": act_grads,
        "act_std": [1.0, 0.5],
        "branch_ratio": [math.nan, math.nan] if variant == "plain" else [0.5, 0.25],
        "out_ms": [1.0, 0.01] if variant == "plain" else [1.0, 30.0],
    }


def handmade_log(norm: str = "batch") -> RunLog:
    """Plain grows 100x toward the input; residual is flat; two measured steps, evals at 0 and 10."""
    log = RunLog(ExperimentConfig(arch="mlp", dataset="moons", depth=4, width=4, shortcut="B", norm=norm, steps=10))
    for variant in ("plain", "residual"):
        log.add(
            {
                "kind": "meta",
                "variant": variant,
                "layers": layers(variant),
                "blocks": ["block 1", "block 2"],
                "device": "cpu",
                "n_params": 100,
            }
        )
    log.add(step_record("plain", 0, [100.0, 50.0, 20.0, 10.0, 1.0, 0.5], [1e-5, 1.0]))
    log.add(step_record("residual", 0, [2.0, 2.0, 2.0, 0.7, 2.0, 1.0, 1.0], [1.5, 1.0]))
    log.add(step_record("plain", 10, [10.0, 5.0, 2.0, 1.0, 1.0, 1.0], [0.1, 1.0]))
    log.add(step_record("residual", 10, [1.0, 1.0, 1.0, 0.3, 1.0, 1.0, 1.0], [1.0, 1.0]))
    for variant in ("plain", "residual"):
        for step, error in ((0, 0.5), (10, 0.1)):
            log.add({"kind": "eval", "variant": variant, "step": step, "train_error": error, "test_error": error + 0.05})
    return log


def test_layer_chart_draws_recorded_norms_on_log_axis_with_projection_separate() -> None:
    fig = charts.layer_gradient_figure(handmade_log().layer_frame(), step=0)
    traces = {t.name: t for t in fig.data}
    assert set(traces) == {"plain", "residual", "residual projection W_s"}
    assert list(traces["plain"].x) == [1, 2, 3, 4, 5, 6]
    assert list(traces["plain"].y) == [100.0, 50.0, 20.0, 10.0, 1.0, 0.5]
    assert list(traces["residual projection W_s"].x) == [3] and list(traces["residual projection W_s"].y) == [0.7]
    assert list(traces["residual projection W_s"].customdata) == [PROJECTION[0]]
    assert traces["plain"].line.color == style.COLORS["plain"] and traces["residual"].line.color == style.COLORS["residual"]
    assert fig.layout.yaxis.type == "log"
    assert "initialisation" in fig.layout.title.text


def test_layer_chart_follows_the_step() -> None:
    fig = charts.layer_gradient_figure(handmade_log().layer_frame(), step=10)
    assert list(fig.data[0].y) == [10.0, 5.0, 2.0, 1.0, 1.0, 1.0]
    assert "step 10" in fig.layout.title.text


def test_block_chart_shows_activation_gradients_per_block() -> None:
    fig = charts.block_gradient_figure(handmade_log().block_frame(), step=0)
    assert [list(t.y) for t in fig.data] == [[1e-5, 1.0], [1.5, 1.0]]
    assert list(fig.data[0].x) == [1, 2] and fig.layout.yaxis.type == "log"


def test_heatmap_shares_one_log_colour_scale_across_both_nets() -> None:
    fig = charts.gradient_heatmap(handmade_log().layer_frame())
    plain, residual = fig.data
    assert plain.coloraxis == residual.coloraxis == "coloraxis"
    assert fig.layout.coloraxis.cmin == pytest.approx(math.log10(0.5))
    assert fig.layout.coloraxis.cmax == pytest.approx(math.log10(100.0))
    assert np.allclose(np.asarray(plain.z)[:, 0], np.log10([100.0, 50.0, 20.0, 10.0, 1.0, 0.5]))
    assert list(plain.x) == [0, 10] and list(residual.y) == [1, 2, 3, 4, 5, 6]  # main path only: projection excluded


def test_curves_carry_loss_minibatch_and_full_evaluations() -> None:
    log = handmade_log()
    loss = charts.loss_figure(log.curve_frame())
    assert list(loss.data[0].y) == [2.0, 2.0 / 11] and loss.layout.yaxis.type == "log"
    errors = charts.error_figure(log.curve_frame(), log.eval_frame())
    by_name = {t.name: t for t in errors.data}
    assert list(by_name["plain"].y) == [0.5, 0.1]  # the training set's curve carries the net's legend entry
    assert list(by_name["residual: test set"].y) == [0.55, pytest.approx(0.15)]
    # one legend entry per net (six took three rows, half the chart on a projector); the title names the curves
    assert [t.name for t in errors.data if t.showlegend is not False] == ["plain", "residual"]
    assert charts.ERROR_KEY in errors.layout.title.text.replace("<br>", " ")


@pytest.mark.parametrize(
    ("norms", "init", "expected"),
    [
        ([673.7, 5.0, 1.0, 9.0], "he", "674 (grows toward the input)"),
        ([1 / 480, 0.5, 1.0, 9.0], "he", "1/480 (shrinks toward the input)"),
        ([1.2, 1.1, 1.0, 9.0], "he", "1.2 (about flat)"),
        ([0.0, 1e-35, 1.0, 9.0], "he", "0: the gradient underflowed float32"),
        ([0.0, 0.0, 1.0, 9.0], "zero_residual", "0 exactly: the zero-initialised layers pass no gradient"),
        ([0.0, 0.0, 0.0, 9.0], "zero_residual", "0 exactly: the zero-initialised layers pass no gradient"),
        ([0.0, 0.3, 1.0, 9.0], "he", "0 exactly: no gradient reaches the first layer"),
        (
            [math.inf, 1e18, 1.0, 9.0],
            "he",
            "not measurable: the gradient overflowed float32 (past 3.4e38) on its way to the input; the largest finite layer norm is 1e+18",
        ),
        ([math.nan, 1.0, 1.0, 9.0], "he", "not measurable: the gradient overflowed"),
        ([1.0, 9.0], "he", "not measured"),
    ],
)
def test_ratio_phrase_tells_zeros_underflow_and_overflow_apart(norms: list[float], init: str, expected: str) -> None:
    assert readings.ratio_phrase(norms, init).startswith(expected)


def test_reading_and_story_quote_the_measured_ratios() -> None:
    log = handmade_log()
    # first hidden / last hidden main layer (classifier excluded): plain 100 / 1 = 100, residual 2 / 1 = 2
    assert readings.gradient_reading(log) == (
        "First / last layer gradient ratio at initialisation: "
        "plain 100 (grows toward the input), residual 2 (grows toward the input)."
    )
    story = " ".join(readings.flow_story(log))
    assert "grow toward the input instead of vanishing" in story and "100" in story
    assert "closer to flat than the plain net's" in story  # residual 2 vs plain 100
    no_bn = " ".join(readings.flow_story(handmade_log(norm="none")))
    assert "Without normalisation" in no_bn and "1/1e+05" in no_bn  # act grad 1e-5 at block 1 vs 1.0 at block 2


def test_the_residual_sentence_does_not_credit_a_shortcut_that_did_not_keep_the_gradient_flat() -> None:
    log = handmade_log()
    residual = log.measured_steps("residual")[0]
    residual["grad_norm"] = [g * 1e-6 if i == 0 else g for i, g in enumerate(residual["grad_norm"])]  # 1/5e5 vs plain 100
    story = " ".join(readings.flow_story(log))
    assert "no flatter than the plain net's here" in story and "carries gradient past" not in story


def test_signal_reading_quotes_the_forward_growth_and_says_which_net_it_is() -> None:
    (line,) = readings.signal_reading(handmade_log(), 0)
    assert "plain x0.01, residual x30" in line and "The residual stream grows with depth" in line
    log = handmade_log()
    for record in log.measured_steps("residual"):
        record["out_ms"] = [1.0, 0.02]
    (line,) = readings.signal_reading(log, 0)
    assert "grows with depth" not in line and "The plain net's signal shrinks" in line


def test_block_ratio_is_first_over_last() -> None:
    blocks = handmade_log().block_frame()
    assert readings.block_ratio(blocks, "plain", "act_grad_norm") == pytest.approx(1e-5)
    assert readings.block_ratio(blocks, "residual", "act_grad_norm", step=10) == pytest.approx(1.0)


def test_engine_output_draws_with_names_from_named_parameters() -> None:
    config = ExperimentConfig(depth=8, width=4, shortcut="B")
    log = RunLog(config).extend(measure_init(config))
    fig = charts.layer_gradient_figure(log.layer_frame(), 0)
    names = {n for t in fig.data for n in t.customdata}
    model_names = {n for model in build_pair(config).values() for n, p in model.named_parameters() if p.dim() > 1}
    assert names == model_names
    assert any(t.name == "residual projection W_s" for t in fig.data)


def test_decision_boundary_grid_and_figure_from_trained_models() -> None:
    config = ExperimentConfig(arch="mlp", dataset="moons", depth=4, width=8, steps=40, n_samples=200)
    models: dict = {}
    log = RunLog(config).extend(train(config, keep_models=models))
    grid = decision_grid(models, config, resolution=40)
    points = grid["points"]
    assert len(points["x"]) == 200
    for variant in ("plain", "residual"):
        classes = np.asarray(grid["classes"][variant])
        assert classes.shape == (40, 40) and set(np.unique(classes)) <= {0, 1}
        # the trained net, read off the grid at each training point, agrees with the error the engine measured
        col = np.abs(np.subtract.outer(points["x"], grid["x"])).argmin(1)
        row = np.abs(np.subtract.outer(points["y"], grid["y"])).argmin(1)
        train_rows = np.asarray(points["split"]) == "train"
        wrong = (classes[row, col] != np.asarray(points["label"]))[train_rows].mean()
        assert wrong == pytest.approx(log.final[variant]["train_error"], abs=0.1)
    fig = charts.boundary_figure(grid)
    assert sum(t.type == "heatmap" for t in fig.data) == 2


def test_training_reading_quotes_the_last_evaluation() -> None:
    log = handmade_log()
    assert readings.training_reading(log) == (
        "Error after 10 steps, training set: plain 10.0% (test 15.0%), residual 10.0% (test 15.0%)."
    )
    log.evals["plain"].pop()  # as if the plain net diverged before its step-10 evaluation
    assert "plain 50.0% (test 55.0%) at step 0" in readings.training_reading(log)


def test_log_axes_label_decades_never_bare_minor_digits() -> None:
    from lab.axes import for_screen, log_ticks, power_label

    assert power_label(-3) == "10⁻³" and power_label(2, 5) == "5·10²"
    values, labels = log_ticks([2e-5, 3e-2])
    assert labels == ["10⁻⁵", "10⁻⁴", "10⁻³", "10⁻²", "10⁻¹"] and values[0] == pytest.approx(1e-5)
    values, labels = log_ticks([0.3, 0.9])  # under a decade: 2 and 5 as well, still with their power of ten
    assert labels == ["2·10⁻¹", "5·10⁻¹", "10⁰"]
    values, labels = log_ticks([1.5e-2, 2e9])  # twelve decades: every second one, so the labels never overlap
    assert labels == ["10⁻²", "10⁰", "10²", "10⁴", "10⁶", "10⁸", "10¹⁰"]
    fig = for_screen(charts.layer_gradient_figure(handmade_log().layer_frame(), 0), 24)
    assert fig.layout.yaxis.tickmode == "array" and all("10" in text for text in fig.layout.yaxis.ticktext)
    assert fig.layout.xaxis.tickfont.size == 24 and fig.layout.yaxis.tickfont.size == 24


def test_long_lines_are_drawn_without_markers_short_ones_and_lone_points_keep_theirs() -> None:
    """A 1000-layer net's per-layer line would be 1000 SVG markers per trace, touching each other."""
    from lab.axes import for_screen

    def line(points: int, mode: str = "lines+markers") -> go.Scatter:
        return go.Scatter(x=list(range(points)), y=[1.0] * points, mode=mode)

    many, few = style.MARKED_POINTS + 1, style.MARKED_POINTS
    fig = go.Figure([line(many), line(few), line(many, "markers")], frames=[go.Frame(data=[line(many)])])
    screen = for_screen(fig, 16)
    assert [trace.mode for trace in screen.data] == ["lines", "lines+markers", "markers"]
    assert screen.frames[0].data[0].mode == "lines"  # a replay's frames as well, or playing would bring them back
    assert fig.data[0].mode == "lines+markers"  # the figure itself (shared between sessions) is left as it was


def cnn_log(padding: str, size: int, plain_act_grads: list[float]) -> RunLog:
    """A no-BN CNN's records at init with a chosen plain ||dL/da|| per block (first block first)."""
    log = RunLog(ExperimentConfig(depth=8, norm="none", padding=padding, image_size=size))
    for variant in ("plain", "residual"):
        log.add({"kind": "meta", "variant": variant, "layers": layers(variant), "blocks": ["block 1", "block 2"]})
    log.add(step_record("plain", 0, [1.0] * 6, plain_act_grads))
    log.add(step_record("residual", 0, [1.0] * 7, [100.0, 1.0]))
    return log


def test_the_no_bn_story_says_how_much_of_each_map_the_zero_padding_is() -> None:
    assert readings.stage_sides(ExperimentConfig()) == [8, 4, 2]
    assert readings.stage_sides(ExperimentConfig(image_size=32)) == [32, 16, 8]
    assert readings.padded_share(2) == pytest.approx(1 - (4 / 6) ** 2)  # of 36 taps on a 2x2 map, 20 read padding
    story = " ".join(readings.flow_story(cnn_log("zeros", 0, [1e-5, 1.0])))
    assert "8x8 inputs give stage maps of 8x8, 4x4, 2x2" in story and "56% of the 3x3 kernel taps" in story
    circular = " ".join(readings.flow_story(cnn_log("circular", 32, [0.5, 1.0])))
    assert "32x32 inputs" in circular and "none reads zeros" in circular and "%" not in circular


def test_the_padding_comparison_is_read_from_both_measurements_including_no_difference() -> None:
    config = ExperimentConfig(norm="none")
    assert readings.padding_counterparts(config) == [
        readings.Counterpart("padding", "circular padding", config.replace(padding="circular")),
        readings.Counterpart("size", "32x32 inputs", config.replace(image_size=32)),
    ]
    padding, size = readings.padding_counterparts(config.replace(padding="circular", image_size=32))
    assert (padding.kind, padding.label, size.kind, size.label) == ("padding", "zero padding", "size", "8x8 inputs")
    here = cnn_log("zeros", 0, [1e-5, 1.0])
    pad, big = readings.padding_counterparts(here.config)
    lines = readings.padding_story(here, [(pad, cnn_log("circular", 0, [0.5, 1.0]))])
    assert "here (8x8 inputs, zero padding) 1/1e+05" in lines[0]
    assert (
        "5e+04x closer to flat than here: it removes 4.7 of the 5.0 decades of the fall here, "
        "so on this seed most of it comes from the zero padding" in lines[1]
    )
    (_, same) = readings.padding_story(here, [(big, cnn_log("zeros", 32, [3e-5, 1.0]))])
    assert (
        "within 10x of here: on this seed, what sets this ratio is not the 8x8 inputs (the zero padding of their small maps)"
        in same
    )
    (_, bigger) = readings.padding_story(here, [(big, cnn_log("zeros", 32, [0.3, 1.0]))])
    assert "most of it comes from the 8x8 inputs (the zero padding of their small maps)" in bigger
    circular = cnn_log("circular", 0, [0.5, 1.0])
    (_, worse) = readings.padding_story(circular, [(readings.padding_counterparts(circular.config)[0], here)])
    assert "further from flat than here: zero padding adds a fall of its own" in worse
    (_, unmeasured) = readings.padding_story(here, [(big, cnn_log("zeros", 32, [0.0, 1.0]))])
    assert "no comparison" in unmeasured


def test_a_counterpart_explains_most_of_the_fall_only_when_it_removes_more_than_half_of_it() -> None:
    """Review: 1e-8 here and 1e-6 with circular padding is 2 of 8 decades, which is not "most" (it was said to be)."""
    here = cnn_log("zeros", 0, [1e-8, 1.0])
    (pad, _) = readings.padding_counterparts(here.config)
    (_, part) = readings.padding_story(here, [(pad, cnn_log("circular", 0, [1e-6, 1.0]))])
    assert "it removes 2.0 of the 8.0 decades of the fall here" in part
    assert "part of it, not most, comes from the zero padding" in part and "most of it comes" not in part
    (_, most) = readings.padding_story(here, [(pad, cnn_log("circular", 0, [1e-3, 1.0]))])
    assert "removes 5.0 of the 8.0 decades" in most and "most of it comes from the zero padding" in most


@pytest.mark.parametrize("dataset, own", [("digits", 8), ("cifar10", 32)])
def test_the_size_counterpart_at_the_datasets_own_side_is_the_native_net(dataset: str, own: int) -> None:
    """Review: the 8x8 counterpart of digits at 32 was image_size=8, a second cache key for the default net."""
    native = ExperimentConfig(dataset=dataset, data_path="x", norm="none")
    away = native.replace(image_size=32 if own == 8 else 8)
    (_, size) = readings.padding_counterparts(away)
    assert size.kind == "size" and size.label == f"{own}x{own} inputs" and size.config == native
    assert size.config.image_size == 0


@pytest.mark.parametrize("activation", ["relu", "tanh"])
def test_the_story_writes_the_residual_unit_the_config_builds(activation: str) -> None:
    """Review: a pre-activation run was told a[l+2] = g(z[l+2] + a[l]) and that g sits on its shortcut path."""
    for block in ("post", "pre"):
        log = RunLog(ExperimentConfig(depth=8, norm="none", block=block, activation=activation))
        for variant in ("plain", "residual"):
            log.add({"kind": "meta", "variant": variant, "layers": layers(variant), "blocks": ["block 1", "block 2"]})
        log.add(step_record("plain", 0, [1e-2] + [1.0] * 5, [1e-5, 1.0]))
        log.add(step_record("residual", 0, [1e-3] + [1.0] * 6, [1e-3, 1.0]))  # no flatter than plain: the path is read
        story = " ".join(readings.flow_story(log))
        assert readings.UNIT_FORMULAS[block] in story
        other = readings.UNIT_FORMULAS["pre" if block == "post" else "post"]
        assert other not in story
        assert ("sits on the shortcut path" in story) == (block == "post" and activation == "tanh")


@pytest.mark.parametrize(
    "title",
    [
        "Weight-gradient norm per layer at initialisation",
        "Forward signal: mean square of each block's output",
        "Decision boundary after training (shaded: predicted class; dots: training data, x: test data)",
        "A title with no natural break anywhere in its first thirty-six characters",
    ],
)
def test_a_long_chart_title_splits_into_short_lines_and_loses_no_word(title: str) -> None:
    """Issue 14: half-width titles were cut at 1280x720 and on a phone; a Plotly title never wraps by itself."""
    text = style.chart_title(title)
    head, rest = text.split("<br><sup>")
    lines = [head, *rest.removesuffix("</sup>").split("<br>")]
    assert len(head) <= style.TITLE_CHARS and all(len(line) <= style.SUBTITLE_CHARS for line in lines)
    assert " ".join(lines) == title  # read line after line, the title as written
    fig = style.base_layout(go.Figure(), title, "x", "y")
    assert (
        fig.layout.title.text == text and fig.layout.margin.t > style.base_layout(go.Figure(), "Short", "x", "y").layout.margin.t
    )


def test_a_short_title_or_one_with_its_own_lines_is_left_as_written() -> None:
    assert style.chart_title("Training loss (minibatch)") == "Training loss (minibatch)"
    assert style.chart_title("Gradients before update 3 of 12 and then some<br><sup>x</sup>").endswith("<br><sup>x</sup>")


def test_every_first_last_ratio_follows_one_convention() -> None:
    """Weight layers, blocks and pre-activation units: inf when only the last value is 0, NaN with nothing to compare."""
    from lab.preactivation import first_last
    from resnet_core.results import end_ratio, gradient_ratio

    assert end_ratio([4.0, 2.0]) == 2.0 and end_ratio([3.0, 0.0]) == math.inf
    assert math.isnan(end_ratio([0.0, 0.0])) and math.isnan(end_ratio([1.0]))
    assert gradient_ratio([3.0, 7.0, 0.0, 5.0]) == math.inf  # the classifier (last) is not the last hidden layer
    blocks = pd.DataFrame({"variant": "plain", "metric": "act_grad_norm", "step": 0, "block": [1, 2], "value": [3.0, 0.0]})
    assert readings.block_ratio(blocks, "plain", "act_grad_norm") == math.inf
    units = pd.DataFrame({"unit": "post", "variant": "residual", "block": [2, 1], "value": [0.0, 3.0]})
    assert first_last(units, "post", "residual") == math.inf


def test_subplot_titles_get_a_line_of_their_own_under_the_chart_title() -> None:
    """A three-line title (a phone's wrapped qualifier) reached the subplot titles 'plain' / 'residual' above the plots."""
    from plotly.subplots import make_subplots

    title = "Error while training: solid = training set (band: range over seeds), dashed = test"
    single = style.base_layout(go.Figure(), title, "step", "error")
    paired = style.base_layout(make_subplots(rows=1, cols=2, subplot_titles=("plain", "residual")), title, "step", "error")
    assert single.layout.margin.t == style.title_margin(style.chart_title(title))
    assert paired.layout.margin.t == single.layout.margin.t + style.TITLE_LINE_PX


@pytest.mark.parametrize(
    ("xs", "dtick"),
    [([1, 2, 3], 1), ([0, 1, 2, 3, 4, 5, 6], 1), (list(range(1, 12)), 2), (list(range(1, 57)), None), ([1.5, 2.5, 3.5], None)],
)
def test_a_short_axis_of_whole_numbers_ticks_only_at_whole_numbers(xs: list[float], dtick: int | None) -> None:
    """Plotly ticks blocks 1..3 at 1, 1.5, 2, ...: "block 1.5" does not exist. Fractions and long axes keep Plotly's."""
    from lab.axes import for_screen

    fig = style.base_layout(go.Figure(go.Scatter(x=xs, y=[1.0] * len(xs))), "t", style.BLOCK_AXIS, "y")
    fig.add_trace(go.Bar(x=["a", "b"], y=[1, 2], xaxis="x2"))  # text categories on another axis are left alone
    fig.layout.xaxis2 = {"anchor": "y"}
    screen = for_screen(fig, 16)
    assert screen.layout.xaxis.dtick == dtick and screen.layout.xaxis2.dtick is None
    if dtick:
        assert screen.layout.xaxis.tick0 == xs[0]


def test_a_log_axis_within_one_tick_interval_is_framed_by_two_labelled_ticks() -> None:
    """Values 0.086..0.16 hold only the 10⁻¹ tick: Plotly's own range would show that one label alone."""
    from lab.axes import for_screen

    fig = style.base_layout(go.Figure(go.Scatter(x=[1, 2, 3], y=[0.086, 0.12, 0.16])), "t", "x", "y", log_y=True)
    axis = for_screen(fig, 16).layout.yaxis
    shown = [v for v in axis.tickvals if axis.range[0] - 1e-9 <= math.log10(v) <= axis.range[1] + 1e-9]
    assert len(shown) >= 2 and axis.range[0] <= math.log10(0.086) and axis.range[1] >= math.log10(0.16)
    flat = style.base_layout(go.Figure(go.Scatter(x=[1, 2, 3], y=[3.5, 3.5, 3.5])), "t", "x", "y", log_y=True)
    assert for_screen(flat, 16).layout.yaxis.range == pytest.approx((math.log10(2), math.log10(5)))  # not 1..50
    wide = style.base_layout(go.Figure(go.Scatter(x=[1, 2], y=[1e-5, 3e-2])), "t", "x", "y", log_y=True)
    assert for_screen(wide, 16).layout.yaxis.range is None  # several decades inside: Plotly's range is kept


def test_larger_text_gets_a_proportionally_larger_top_margin_for_its_title_lines() -> None:
    """Presenter mode's 24 px titles in a margin sized for 16 px ran their second subtitle line into the plot."""
    from lab.axes import for_screen

    fig = charts.error_figure(handmade_log().curve_frame(), handmade_log().eval_frame())
    from lab.axes import CHART_HEIGHT

    same = for_screen(fig, style.FONT_SIZE).layout
    assert same.margin.t == fig.layout.margin.t and same.height is None
    larger = for_screen(fig, style.FONT_SIZE * 3 // 2).layout
    assert larger.margin.t == round(fig.layout.margin.t * 1.5)
    assert larger.height - larger.margin.t == CHART_HEIGHT - fig.layout.margin.t  # the plot keeps its height


def test_a_chart_with_many_legend_entries_grows_so_its_plot_keeps_its_height() -> None:
    """Ten entries (the Identity page's per-L2 lines) wrapped into ten rows on a phone and left a 60 px plot."""
    from lab.axes import CHART_HEIGHT, LEGEND_FREE, LEGEND_ROW, for_screen

    def lines(n: int) -> go.Figure:
        traces = [go.Scatter(x=[1, 2], y=[1, 2], name=f"line {i}") for i in range(n)]
        return style.base_layout(go.Figure(traces), "t", "x", "y")

    assert for_screen(lines(LEGEND_FREE), 16).layout.height is None
    assert for_screen(lines(10), 16).layout.height == CHART_HEIGHT + (10 - LEGEND_FREE) * round(16 * LEGEND_ROW)
    assert for_screen(lines(10), 24).layout.height > for_screen(lines(10), 16).layout.height  # presenter's larger rows
