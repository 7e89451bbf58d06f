"""The `shattered` and `landscape` subcommands: the JSON holds the engine's records, the CSV their long table."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch

from resnet_core.__main__ import main
from resnet_core.shattered import shattered_records
from resnet_core.specs import ShatterSpec

SMALL_SHATTER = ["--depth", "4", "--width", "16", "--points", "32", "--seeds", "2", "--max-lag", "4"]
TINY_LANDSCAPE = ["--arch", "mlp", "--dataset", "moons", "--depth", "4", "--width", "8", "--steps", "5"]
TINY_SLICES = ["--points-1d", "5", "--points-2d", "5", "--directions", "2", "--samples", "64"]


def test_shattered_writes_the_engines_curves_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, csv = tmp_path / "s.json", tmp_path / "s.csv"
    assert main(["shattered", *SMALL_SHATTER, "--out", str(out), "--csv", str(csv)]) == 0
    document = json.loads(out.read_text())
    expected = [
        r for r in shattered_records(ShatterSpec(depth=4, width=16, points=32, seeds=2, max_lag=4)) if r["kind"] == "gradient"
    ]
    assert np.allclose([c["acf"] for c in document["curves"]], [r["acf"] for r in expected])
    lag1 = document["lag1"]["plain"]
    assert lag1["low"] <= lag1["mean"] <= lag1["high"] and lag1["n"] == 2
    table = pd.read_csv(csv)
    assert len(table[table["table"] == "gradient"]) == 2 * 2 * 32 and len(table[table["table"] == "acf"]) == 2 * 2 * 5
    assert "lag-1 autocorrelation" in capsys.readouterr().err


def test_shattered_runs_on_the_device_it_is_given(tmp_path: Path) -> None:
    """--device picks where the nets run (as for training); the nets are drawn on the CPU, so the curves are the same."""
    out = tmp_path / "s.json"
    assert main(["shattered", *SMALL_SHATTER, "--device", "cpu", "--out", str(out)]) == 0
    document = json.loads(out.read_text())
    assert document["device"] == "cpu"
    expected = [r for r in shattered_records(ShatterSpec(depth=4, width=16, points=32, seeds=2, max_lag=4), "cpu")]
    assert expected[0]["device"] == "cpu"
    assert [c["gradient"] for c in document["curves"]] == [r["gradient"] for r in expected[1:]]


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_shattered_refuses_an_absent_device_in_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["shattered", *SMALL_SHATTER, "--device", "cuda"])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "device: 'cuda' is not available" in err


def test_landscape_writes_slices_summary_and_csv(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out, csv = tmp_path / "l.json", tmp_path / "l.csv"
    assert main(["landscape", *TINY_LANDSCAPE, *TINY_SLICES, "--out", str(out), "--csv", str(csv)]) == 0
    document = json.loads(out.read_text())
    assert {s["kind"] for s in document["slices"]} == {"slice1d", "slice2d"}
    for variant in ("plain", "residual"):
        line = next(s for s in document["slices"] if s["kind"] == "slice1d" and s["variant"] == variant)
        assert line["loss"][0][2] == pytest.approx(document["summary"][variant]["trained_loss"])
        assert 0 <= document["summary"][variant]["nonconvex_2d"] <= 1
    table = pd.read_csv(csv)
    assert len(table) == 2 * (2 * 5 + 5 * 5)
    assert "non-convex share" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv, field",
    [
        (["shattered", "--depth", "5"], "depth"),
        (["landscape", "--points-2d", "4"], "points_2d"),
        (["landscape", "--depth", "7"], "depth"),
    ],
)
def test_bad_options_exit_2_with_one_line_naming_the_field(
    argv: list[str], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and field in err


def test_an_unwritable_out_path_is_refused_before_any_work(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["shattered", "--out", str(tmp_path / "missing" / "s.json")])
    assert "--out" in capsys.readouterr().err


def test_a_seed_whose_value_is_not_a_number_is_counted_not_hidden() -> None:
    """An all-zero gradient's autocorrelation is 0/0: the summary says how many of the values it averages."""
    from resnet_core.cli_slices import _spread, _spread_text

    spread = _spread([0.3, float("nan"), 0.5])
    assert (spread["n"], spread["of"]) == (2, 3)
    assert _spread_text(spread, ".3f") == "0.400 [0.300–0.500] (2 of 3 values finite)"
    assert _spread_text(_spread([0.3, 0.5]), ".3f") == "0.400 [0.300–0.500]"
