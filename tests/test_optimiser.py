"""The optimiser's view: relative update and effective gradient defined from the engine's norms, the story only when shown."""

import pandas as pd
import pytest
import torch

from lab import optimiser as O
from resnet_core import ExperimentConfig, train
from resnet_core.results import RunLog


def layer_rows(variant: str, steps: dict[int, tuple[float, float]]) -> list[tuple]:
    """Rows of a RunLog layer frame for layer 1 and a second layer with constant norms."""
    rows = []
    for step, (grad, weight) in steps.items():
        for layer, (g, w) in ((1, (grad, weight)), (2, (1.0, 1.0))):
            rows += [
                (variant, step, layer, f"l{layer}", "main", "grad_norm", g),
                (variant, step, layer, f"l{layer}", "main", "weight_norm", w),
            ]
    return rows


def frame(plain: dict, residual: dict, lr: float = 0.1) -> pd.DataFrame:
    layers = pd.DataFrame(
        layer_rows("plain", plain) + layer_rows("residual", residual),
        columns=["variant", "step", "layer", "name", "kind", "metric", "value"],
    )
    return O.optimiser_frame(layers, lr)


def test_relative_update_and_effective_gradient_are_their_definitions():
    f = frame({0: (40.0, 4.0), 5: (1.0, 400.0)}, {0: (1.0, 4.0), 5: (1.0, 5.0)}).set_index(
        ["variant", "step", "layer", "metric"]
    )["value"]
    assert f["plain", 0, 1, "relative_update"] == pytest.approx(0.1 * 40 / 4)
    assert f["plain", 0, 1, "effective_grad"] == pytest.approx(160.0)
    assert f["plain", 5, 1, "weight_norm"] == 400.0


def test_the_effective_gradient_is_drawn_per_layer_beside_the_relative_update():
    """Issue 11 asks for ||g||·||W|| on screen next to the raw norms, not only in the frame."""
    f = frame({0: (40.0, 4.0), 5: (1.0, 400.0)}, {0: (1.0, 4.0), 5: (1.0, 5.0)})
    fig = O.layer_figure(f, "effective_grad")
    plain = next(t for t in fig.data if t.name == "plain")
    assert list(plain.y) == [160.0, 1.0] and "‖g‖·‖W‖" in fig.layout.title.text  # layer 1: 40 x 4; layer 2: 1 x 1
    assert not fig.layout.shapes  # the line at 1 belongs to the relative update only
    assert list(next(t for t in O.layer_figure(f).data if t.name == "plain").y) == pytest.approx([1.0, 0.1])


def test_a_run_stopped_before_its_first_measurement_has_an_empty_view():
    empty = pd.DataFrame(columns=["variant", "step", "layer", "name", "kind", "metric", "value"])
    frame = O.optimiser_frame(empty, 0.1)
    assert frame.empty and O.optimiser_story(frame) == []


def test_the_story_tells_a_blow_up_and_freeze_only_when_the_numbers_show_it():
    blown = frame({0: (40.0, 4.0), 5: (0.01, 380.0), 10: (1e-4, 400.0)}, {0: (1.0, 4.0), 5: (1.0, 4.5), 10: (0.8, 5.0)})
    story = " ".join(O.optimiser_story(blown))
    assert "**1x** its own size" in story  # 0.1 * 40 / 4
    assert "grew from 4 to 380 by step 5" in story and "this layer has frozen" in story
    assert "**Residual:** ‖W‖ of the first layer went from 4 to 5" in story and "no blow-up and freeze" in story
    calm = frame({0: (1.0, 4.0), 10: (1.0, 5.0)}, {0: (1.0, 4.0), 10: (1.0, 5.0)})
    assert "frozen" not in " ".join(O.optimiser_story(calm))
    assert O.optimiser_story(frame({0: (1.0, 4.0)}, {0: (1.0, 4.0)})) == []  # nothing trained yet
    # without BN the same numbers are a freeze, but BN's scale invariance is not its cause
    no_bn = " ".join(O.optimiser_story(blown, "none"))
    assert "all but stopped moving" in no_bn and "proportionally smaller gradient" not in no_bn


def test_scaling_a_bn_followed_layer_changes_its_gradient_not_its_effective_gradient():
    """The reason for the view: W -> cW before BN leaves the loss unchanged, divides ||g|| by c, keeps ||g||·||W||."""
    torch.manual_seed(0)
    config = ExperimentConfig(depth=8, width=4, steps=1, measure_every=1)
    base = RunLog(config).extend(train(config))
    from resnet_core.models import Stack

    def scaled(models: dict[str, Stack]) -> None:
        with torch.no_grad():
            models["plain"].stem.layer.weight.mul_(100.0)

    big = RunLog(config).extend(train(config, prepare=scaled))
    step0 = {name: log.measured_steps("plain")[0] for name, log in (("base", base), ("big", big))}
    assert step0["big"]["loss"] == pytest.approx(step0["base"]["loss"], rel=1e-4)
    g, w = (step0[n]["grad_norm"][0] for n in ("base", "big")), (step0[n]["weight_norm"][0] for n in ("base", "big"))
    (g0, g1), (w0, w1) = g, w
    assert g1 == pytest.approx(g0 / 100, rel=1e-3)
    assert g1 * w1 == pytest.approx(g0 * w0, rel=1e-3)
