"""lab.lesion's verdicts and stories on constructed records: each outcome, "no clear difference" included."""

from __future__ import annotations

import math

import pytest

from lab import lesion as L
from lab.lessons import lesson_by_name
from resnet_core.config import ExperimentConfig
from serving.limits import HostLimits, sweep_message

N = 4


def lesion_records(baseline: dict[str, float], single: dict[str, float], per_k: dict[str, list[float]]) -> list[dict]:
    """Records as resnet_core.lesion yields them: every single deletion at `single`, random draws at per_k[k] +- 0.01."""
    records = []
    for variant in ("plain", "residual"):
        base = {"kind": "lesion", "variant": variant, "draw": 0, "transitions": 0}
        records.append(base | {"mode": "baseline", "k": 0, "deleted": [], "test_error": baseline[variant]})
        records += [base | {"mode": "single", "k": 1, "deleted": [i], "test_error": single[variant]} for i in range(1, N + 1)]
        for k in range(1, N + 1):
            errors = [per_k[variant][k - 1] - 0.01, per_k[variant][k - 1] + 0.01] if k < N else [per_k[variant][k - 1]]
            records += [
                base | {"mode": "random", "k": k, "deleted": list(range(1, k + 1)), "draw": d, "test_error": e}
                for d, e in enumerate(errors)
            ]
    return records


def verdict(records: list[dict]) -> L.LesionVerdict:
    result = L.lesion_verdict(L.lesion_frame(records))
    assert result is not None
    return result


def test_residual_survives_and_plain_breaks() -> None:
    records = lesion_records(
        {"plain": 0.05, "residual": 0.03},
        {"plain": 0.85, "residual": 0.04},
        {"plain": [0.85, 0.9, 0.9, 0.9], "residual": [0.04, 0.1, 0.3, 0.6]},
    )
    v = verdict(records)
    assert v.outcome == "residual"
    assert v.rise("plain") == pytest.approx(0.80) and v.rise("residual") == pytest.approx(0.01)
    assert v.per_k["residual"] == pytest.approx([0.03, 0.04, 0.1, 0.3, 0.6])  # k = 0 is the intact net; means of the draws
    story = L.lesion_story(v, chance=0.9)
    assert len(story) == 3
    assert "from 3.0% to 4.0%" in story[0] and "close to chance (90%)" in story[0]
    assert "barely notices" in story[1] and "degrades smoothly" in story[2]


def test_no_clear_difference_when_both_lose_about_the_same() -> None:
    records = lesion_records(
        {"plain": 0.05, "residual": 0.05}, {"plain": 0.08, "residual": 0.07}, {"plain": [0.08] * N, "residual": [0.07] * N}
    )
    v = verdict(records)
    assert v.outcome == "none"
    story = L.lesion_story(v, chance=0.9)
    assert story[1].startswith("No clear difference") and "close to chance" not in story[0]


def test_the_reverse_outcome_and_an_abrupt_residual_are_said_as_such() -> None:
    records = lesion_records(
        {"plain": 0.05, "residual": 0.05},
        {"plain": 0.06, "residual": 0.5},
        {"plain": [0.06] * N, "residual": [0.5, 0.5, 0.9, 0.9]},
    )
    v = verdict(records)
    assert v.outcome == "plain"
    story = L.lesion_story(v, chance=0.9)
    assert "opposite of Veit" in story[1] and "no smooth decline" in story[2]


def test_no_verdict_until_every_deletion_is_in() -> None:
    records = lesion_records(
        {"plain": 0.05, "residual": 0.03}, {"plain": 0.85, "residual": 0.04}, {"plain": [0.9] * N, "residual": [0.1] * N}
    )
    assert L.lesion_verdict(L.lesion_frame(records[:-1])) is None  # the residual net's k = n deletion is missing
    assert L.lesion_verdict(L.lesion_frame([])) is None


def path_records(grad: list[float]) -> list[dict]:
    n = len(grad) - 1
    shares = [math.comb(n, k) / 2**n for k in range(n + 1)]
    return [
        {
            "kind": "paths",
            "variant": "residual",
            "k": k,
            "count": math.comb(n, k),
            "share": shares[k],
            "grad_mean": g,
            "grad_std": 0.0,
            "draws": 3,
        }
        for k, g in enumerate(grad)
    ]


def test_paths_short_when_each_branch_shrinks_the_gradient() -> None:
    paths = L.path_frame(path_records([0.1**k for k in range(9)]))
    assert paths["total_share"].sum() == pytest.approx(1.0)
    v = L.path_verdict(paths)
    assert v is not None and v.outcome == "short" and v.per_branch == pytest.approx(0.1) and v.peak == 0
    story = L.path_story(v)
    assert "2^8 = 256 paths" in story[0] and "short paths carry" in story[1]


def test_paths_no_clear_difference_when_every_path_carries_the_same() -> None:
    v = L.path_verdict(L.path_frame(path_records([1.0] * 9)))
    assert (
        v is not None and v.outcome == "none" and v.gradient_length == pytest.approx(4.0) and v.per_branch == pytest.approx(1.0)
    )
    assert L.path_story(v)[1].startswith("No clear difference")


def test_paths_long_when_each_branch_grows_the_gradient() -> None:
    v = L.path_verdict(L.path_frame(path_records([3.0**k for k in range(9)])))
    assert v is not None and v.outcome == "long" and v.short_share < 0.5
    assert L.path_verdict(L.path_frame(path_records([1.0, 0.0]))) is None  # one measured length: no slope


def test_the_budget_counts_the_lesions_and_paths_and_fits_the_lessons() -> None:
    """The lessons' jobs fit the hosted budget; a 500-block lesion job, whose training alone would fit, does not."""
    hosted = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1"}, cpu_count=2)
    for name in ("lesion-study", "short-paths"):
        config = lesson_by_name(name).config()
        pairs = L.budget_pairs(config)
        assert pairs[0] == config and pairs[1].steps > config.steps  # deleting and routing cost more than training here
        assert sweep_message(pairs, hosted) is None, name
    deep = ExperimentConfig(arch="mlp", dataset="moons", depth=1000, width=8, steps=60)
    assert sweep_message([deep], hosted) is None and sweep_message(L.budget_pairs(deep), hosted) is not None
