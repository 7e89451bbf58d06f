"""Science figures: the data they plot is the data they were given, styled by the app's conventions."""

import pandas as pd
import pytest

from lab import degradation as D
from lab import science_charts as charts
from lab import shortcuts as S
from lab.spread import error_bands
from lab.style import COLORS


def evals_over_seeds() -> pd.DataFrame:
    """Evaluations of plain/residual at depths 20 and 56 over seeds 0-2; the seed adds 0, 0.01, 0.02."""
    return pd.DataFrame(
        [
            {"depth": d, "seed": seed, "variant": v, "step": s, "train_error": err + seed / 100, "test_error": err + 0.05}
            for d, v, err in ((20, "plain", 0.1), (56, "plain", 0.8), (20, "residual", 0.02), (56, "residual", 0.05))
            for seed in (0, 1, 2)
            for s in (0, 10)
        ]
    )


def test_degradation_curves_draw_the_seed_mean_and_range_side_by_side_with_one_colour_per_depth():
    fig = D.degradation_curves(evals_over_seeds())
    plain_56 = next(t for t in fig.data if t.name == "56 layers" and t.xaxis == "x")
    assert list(plain_56.y) == pytest.approx([0.81, 0.81]) and plain_56.line.color == D.DEPTH_COLORS[56]
    band = next(t for t in fig.data if t.fill == "toself" and t.xaxis == "x" and t.fillcolor == D.DEPTH_COLORS[56])
    assert max(band.y) == pytest.approx(0.82) and min(band.y) == pytest.approx(0.8)  # the range over seeds
    assert {t.xaxis for t in fig.data if t.name == "20 layers"} == {"x", "x2"}
    test_lines = [t for t in fig.data if t.line.dash == "dash"]
    assert len(test_lines) == 4 and all("test error" in t.hovertemplate for t in test_lines)


def test_final_error_vs_depth_uses_the_variant_colours_and_shows_every_seed():
    evals = evals_over_seeds()
    fig = D.final_error_vs_depth(evals[evals["step"] == 10])
    mean = {t.name: t for t in fig.data if t.name in ("plain", "residual")}
    assert mean["plain"].line.color == COLORS["plain"] and mean["residual"].line.color == COLORS["residual"]
    assert list(mean["plain"].y) == pytest.approx([0.11, 0.81])
    dots = next(t for t in fig.data if t.name == "plain: each seed")
    assert len(dots.y) == 6


def test_init_ratio_is_on_a_log_axis_and_printed():
    ratios = pd.DataFrame(
        {
            "depth": [20, 56, 20, 56],
            "seed": [0, 0, 0, 0],
            "variant": ["plain", "plain", "residual", "residual"],
            "ratio": [3.4, 674.0, 1.1, 4.8],
        }
    )
    fig = D.init_ratio_figure(ratios)
    assert fig.layout.yaxis.type == "log"
    labels = {t.textfont.color: t for t in fig.data if t.mode == "text"}
    assert list(labels[COLORS["plain"]].text) == ["3.4", "674"]
    # the higher value's label above its point, the lower one's below, both inward at the axis's ends: at 390 px the
    # two labels at one depth were drawn over each other, and the first ones over the tick labels
    assert list(labels[COLORS["plain"]].textposition) == ["top right", "top left"]
    assert list(labels[COLORS["residual"]].textposition) == ["bottom right", "bottom left"]
    crossed = ratios.assign(ratio=[0.5, 674.0, 0.9, 4.8])  # residual higher at 20
    labels = {t.textfont.color: t for t in D.init_ratio_figure(crossed).data if t.mode == "text"}
    assert list(labels[COLORS["residual"]].textposition) == ["top right", "bottom left"]
    (reference,) = [t for t in fig.data if t.name == D.SAME_SIZE]  # named in the legend, not written over the data
    assert list(reference.y) == [1.0, 1.0] and not fig.layout.annotations


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


def test_option_error_bands_draw_options_in_residual_colour_with_their_dash():
    evals = pd.DataFrame(
        [
            {"net": r, "seed": seed, "variant": "plain" if r == "plain" else "residual", "step": s, "train_error": 0.5}
            for r in ("plain", "A", "B", "C")
            for seed in (0, 1)
            for s in (0, 5)
        ]
    )
    style = {net: (COLORS["plain" if net == "plain" else "residual"], charts.OPTION_DASHES.get(net, "solid")) for net in S.NETS}
    fig = error_bands(evals, "net", style, "t")
    styles = {t.name: (t.line.color, t.line.dash) for t in fig.data if t.name}
    assert styles == {
        "plain": (COLORS["plain"], "solid"),
        "A": (COLORS["residual"], "solid"),
        "B": (COLORS["residual"], "dash"),
        "C": (COLORS["residual"], "dot"),
    }


def test_transition_gradient_figure_shades_transition_layers():
    layers = pd.DataFrame(
        [
            {
                "net": "B",
                "variant": "residual",
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
