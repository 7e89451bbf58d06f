"""Science figures: the data they plot is the data they were given, styled by the app's conventions."""

import pandas as pd
import pytest

from lab import science_charts as charts
from lab.charts import COLORS


def frames():
    steps = list(range(10))
    curves = pd.DataFrame(
        [
            {"run": f"{v}-{d}", "depth": d, "variant": v, "step": s, "loss": 1.0, "batch_error": err}
            for d, v, err in ((20, "plain", 0.1), (56, "plain", 0.8), (20, "residual", 0.02), (56, "residual", 0.05))
            for s in steps
        ]
    )
    evals = pd.DataFrame(
        [
            {"run": f"{v}-{d}", "depth": d, "variant": v, "step": s, "train_error": err, "test_error": err + 0.05}
            for d, v, err in ((20, "plain", 0.1), (56, "plain", 0.8), (20, "residual", 0.02), (56, "residual", 0.05))
            for s in (0, 10)
        ]
    )
    return curves, evals


def test_degradation_curves_put_variants_side_by_side_with_one_colour_per_depth():
    curves, evals = frames()
    fig = charts.degradation_curves(curves, evals)
    plain_56 = next(t for t in fig.data if t.hovertemplate.startswith("plain-56") and t.line.dash != "dash")
    assert list(plain_56.y) == pytest.approx([0.8] * 10)
    assert plain_56.line.color == charts.DEPTH_COLORS[56] and plain_56.xaxis == "x"
    residual = [t for t in fig.data if t.hovertemplate.startswith("residual-")]
    assert {t.xaxis for t in residual} == {"x2"}
    test_lines = [t for t in fig.data if t.line.dash == "dash"]
    assert len(test_lines) == 4 and all("test error" in t.hovertemplate for t in test_lines)


def test_final_error_vs_depth_uses_the_variant_colours():
    _, evals = frames()
    fig = charts.final_error_vs_depth(evals[evals["step"] == 10])
    by_name = {t.name: t for t in fig.data}
    assert by_name["plain"].line.color == COLORS["plain"] and by_name["residual"].line.color == COLORS["residual"]
    assert list(by_name["plain"].y) == pytest.approx([0.1, 0.8])


def test_init_ratio_is_on_a_log_axis_and_printed():
    ratios = pd.DataFrame(
        {"depth": [20, 56, 20, 56], "variant": ["plain", "plain", "residual", "residual"], "ratio": [3.4, 674.0, 1.1, 4.8]}
    )
    fig = charts.init_ratio_figure(ratios)
    assert fig.layout.yaxis.type == "log"
    assert list(fig.data[0].text) == ["3.4", "674"]


def test_l2_figures_order_strengths_and_keep_zero():
    blocks = pd.DataFrame(
        [
            {"run": f"{v}-{l2}", "variant": v, "l2": l2, "step": 5, "block": b, "metric": m, "value": val}
            for v in ("plain", "residual")
            for l2 in (0.1, 0.0)
            for b in (1, 2)
            for m, val in (("branch_ratio", 0.5 if l2 == 0 else 0.2), ("act_std", 1.0 - l2))
        ]
    )
    fig = charts.branch_ratio_figure(blocks)
    assert [t.name for t in fig.data] == ["L2 0", "L2 0.1"] and fig.layout.yaxis.type == "log"
    assert list(fig.data[1].y) == [0.2, 0.2]
    layers = pd.DataFrame(
        [
            {
                "variant": v,
                "l2": l2,
                "layer": i,
                "name": f"blocks.{i}.layer1.weight",
                "kind": "main",
                "metric": "weight_norm",
                "value": 2.0 - l2,
                "step": 5,
            }
            for v in ("plain", "residual")
            for l2 in (1e-4, 0.0)
            for i in (2, 1)
        ]
    )
    fig = charts.weight_norm_figure(layers)
    assert [t.name for t in fig.data] == ["plain, L2 0", "plain, L2 1e-4", "residual, L2 0", "residual, L2 1e-4"]
    assert list(fig.data[1].x) == [1, 2] and list(fig.data[1].y) == [2.0 - 1e-4] * 2 and fig.layout.yaxis.type == "log"
    assert len(charts.response_std_figure(blocks).data) == 4


def test_run_error_figure_draws_options_in_residual_colour_with_their_dash():
    evals = pd.DataFrame(
        [
            {
                "run": r,
                "variant": "plain" if r == "plain" else "residual",
                "option": r,
                "step": s,
                "train_error": 0.5,
                "test_error": 0.5,
            }
            for r in ("plain", "A", "B", "C")
            for s in (0, 5)
        ]
    )
    fig = charts.run_error_figure(evals, "t")
    styles = {t.name: (t.line.color, t.line.dash) for t in fig.data}
    assert styles == {
        "plain": (COLORS["plain"], "solid"),
        "residual A": (COLORS["residual"], "solid"),
        "residual B": (COLORS["residual"], "dash"),
        "residual C": (COLORS["residual"], "dot"),
    }


def test_transition_gradient_figure_shades_transition_layers():
    layers = pd.DataFrame(
        [
            {
                "run": "B",
                "variant": "residual",
                "option": "B",
                "step": 0,
                "layer": i,
                "name": f"blocks.{i}.x",
                "kind": "main",
                "metric": "grad_norm",
                "value": 1.0,
                "in_transition": i == 3,
            }
            for i in range(1, 6)
        ]
    )
    fig = charts.transition_gradient_figure(layers)
    assert [(s.x0, s.x1) for s in fig.layout.shapes] == [(2.5, 3.5)]
    assert fig.layout.yaxis.type == "log"


@pytest.mark.parametrize(
    ("option", "transition", "words"),
    [("A", True, "zero-pad"), ("A", False, "identity"), ("B", True, "W_s"), ("B", False, "identity"), ("C", False, "W_s")],
)
def test_block_diagram_labels_the_shortcut_by_option(option, transition, words):
    fig = charts.block_diagram(option, transition)
    shortcut = [a.text for a in fig.layout.annotations if a.text and "shortcut" in a.text]
    assert len(shortcut) == 1 and words in shortcut[0]
    assert ("stride 2" in " ".join(a.text or "" for a in fig.layout.annotations)) == transition
