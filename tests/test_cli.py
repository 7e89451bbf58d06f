"""The CLI: JSON schema, sweeps, CSV, one-line errors with exit status 2 (bad options and unwritable outputs), --steps 0."""

import json
import subprocess
import sys

import pandas as pd
import pytest

import resnet_core.__main__ as cli
from resnet_core.__main__ import main

FAST = [
    "--arch",
    "cnn",
    "--dataset",
    "digits",
    "--width",
    "4",
    "--steps",
    "6",
    "--batch-size",
    "16",
    "--measure-every",
    "3",
    "--eval-every",
    "3",
    "--quiet",
]


def test_json_schema_of_a_depth_sweep(tmp_path):
    out, csv = tmp_path / "run.json", tmp_path / "run.csv"
    assert main(["run", *FAST, "--depth", "8,14", "--shortcut", "B", "--l2", "1e-4", "--out", str(out), "--csv", str(csv)]) == 0
    result = json.loads(out.read_text())
    assert result["config"]["depth"] == [8, 14] and result["config"]["shortcut"] == "B"
    assert [(r["variant"], r["depth"]) for r in result["runs"]] == [
        ("plain", 8),
        ("residual", 8),
        ("plain", 14),
        ("residual", 14),
    ]
    for run in result["runs"]:
        assert set(run) >= {"variant", "depth", "layers", "init", "history", "final"}
        names = [layer["name"] for layer in run["layers"]]
        assert names[0] == "stem.layer.weight" and names[-1] == "fc.weight"  # ordered input -> output
        assert len(run["init"]["grad_norm"]) == len(names)
        assert len(run["init"]["act_grad_norm"]) == len(run["init"]["act_std"]) == (run["depth"] - 2) // 2
        assert [h["step"] for h in run["history"]] == list(range(7))
        assert all({"step", "loss"} <= set(h) for h in run["history"][:6])
        assert {"train_error", "grad_norm"} <= set(run["history"][0])
        assert set(run["final"]) >= {"train_error", "test_error", "diverged"}
        assert 0 <= run["final"]["train_error"] <= 1
    table = pd.read_csv(csv)
    assert list(table.columns[:6]) == ["depth", "variant", "step", "layer", "name", "kind"]
    assert {"grad_norm", "weight_norm", "act_grad_norm"} <= set(table["metric"])


def test_image_size_reaches_the_nets(tmp_path):
    """--image-size 16 is in the config the CLI ran, and the nets measured other inputs than the 8x8 digits."""
    runs = {}
    for size in ("0", "16"):
        out = tmp_path / f"run-{size}.json"
        assert main(["run", *FAST, "--depth", "8", "--steps", "1", "--image-size", size, "--out", str(out)]) == 0
        runs[size] = json.loads(out.read_text())
    assert [runs[s]["config"]["image_size"] for s in ("0", "16")] == [0, 16]
    assert runs["0"]["runs"][0]["init"]["grad_norm"] != runs["16"]["runs"][0]["init"]["grad_norm"]


def test_json_is_strict_even_with_nan(tmp_path):
    out = tmp_path / "run.json"
    assert main(["run", *FAST, "--depth", "8", "--out", str(out)]) == 0
    text = out.read_text()
    assert "NaN" not in text  # the plain net's branch ratios are null, not NaN
    assert json.loads(text)["runs"][0]["init"]["branch_ratio"][0] is None


@pytest.mark.parametrize(
    "args, field",
    [
        (["--depth", "21"], "depth"),
        (["--shortcut", "D"], "shortcut"),
        (["--l2", "lots"], "l2"),
        (["--image-size", "2"], "image_size"),
        (["--dataset", "cifar10", "--data-path", "/nowhere/cifar"], "/nowhere/cifar"),
        (["--bogus", "1"], "--bogus"),
    ],
)
def test_bad_options_exit_2_with_one_line(args, field):
    proc = subprocess.run([sys.executable, "-m", "resnet_core", "run", *FAST, *args], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and field in lines[0] and "Traceback" not in proc.stderr


def test_help_explains_every_option():
    proc = subprocess.run([sys.executable, "-m", "resnet_core", "run", "--help"], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0
    for option in ("--depth", "--shortcut", "--l2", "--norm", "--init", "--measure-every", "--csv", "--out"):
        assert option in proc.stdout
    assert "6n+2" in proc.stdout and "zero-padded" in proc.stdout


def _no_training(config):
    raise AssertionError("trained before checking where the results go")


@pytest.mark.parametrize(
    "make, reason",
    [
        (lambda tmp: tmp / "missing-folder" / "run.json", "No such file or directory"),
        (lambda tmp: tmp, "Is a directory"),
        (lambda tmp: tmp / ("x" * 300 + ".json"), "File name too long"),
    ],
    ids=["missing-folder", "a-folder", "name-too-long"],
)
@pytest.mark.parametrize("option", ["--out", "--csv"])
def test_an_unwritable_output_path_exits_2_before_training(tmp_path, monkeypatch, capsys, make, reason, option):
    monkeypatch.setattr(cli, "train", _no_training)
    path = make(tmp_path)
    with pytest.raises(SystemExit) as exit_info:
        main(["run", *FAST, "--depth", "8", option, str(path)])
    assert exit_info.value.code == 2
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("python -m resnet_core: error: " + option) and reason in lines[0]


def test_the_writability_check_leaves_no_file_and_keeps_an_existing_one(tmp_path, monkeypatch):
    def stop(config):
        raise ValueError("stopped after the check")

    monkeypatch.setattr(cli, "train", stop)
    existing = tmp_path / "old.json"
    existing.write_text("previous run")
    with pytest.raises(SystemExit):
        main(["run", *FAST, "--depth", "8", "--out", str(existing), "--csv", str(tmp_path / "new.csv")])
    assert existing.read_text() == "previous run" and not (tmp_path / "new.csv").exists()


def test_an_unwritable_output_path_has_no_traceback():
    proc = subprocess.run(
        [sys.executable, "-m", "resnet_core", "run", *FAST, "--steps", "100000", "--out", "/nowhere/run.json"],
        capture_output=True,
        text=True,
        timeout=120,  # 100,000 steps would take far longer: the check comes first
    )
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert (
        proc.stderr.strip()
        == "python -m resnet_core: error: --out /nowhere/run.json: cannot write there (No such file or directory)"
    )


def test_zero_steps_reports_the_initial_error_and_no_ratio(tmp_path, capsys):
    """With no training step no gradient is taken: the old line printed a `nan` ratio and called the initial error final."""
    out = tmp_path / "run.json"
    assert main(["run", *FAST, "--depth", "8", "--steps", "0", "--out", str(out)]) == 0
    lines = capsys.readouterr().err.strip().splitlines()
    assert len(lines) == 2 and all("nan" not in line and "final" not in line for line in lines)
    assert all("no gradient measured; train error at init 0." in line for line in lines)
    result = json.loads(out.read_text())
    for run in result["runs"]:
        assert set(run) >= {"variant", "depth", "layers", "init", "history", "final"}  # the schema of any other run
        assert [h["step"] for h in run["history"]] == [0]
        assert run["final"]["train_error"] == run["history"][0]["train_error"]
