"""The CLI fuzzed: whatever the arguments, a run is accepted or refused with exit 2 and one line, never a traceback.

Hypothesis builds command lines from every real option, unknown ones and hostile values (the URL
fuzz's Markdown and HTML payloads, inf / nan / 400-digit numbers, control characters, random
Unicode) and calls `main(argv)` in this process, with the training replaced by a stand-in that
only records the configs it was given: the check is everything before the first step. A few
command lines run as real subprocesses, where a traceback would reach the terminal.
(`ExperimentConfig.from_params` is fuzzed in tests/test_config.py.)
"""

from __future__ import annotations

import contextlib
import io
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from conftest import ROOT
from hypothesis import given, settings
from hypothesis import strategies as st

import resnet_core.__main__ as cli
from benchmarks.fuzz import HOSTILE_NUMBERS, HOSTILE_TEXT, ODD_TEXT
from resnet_core.config import FIELDS, ExperimentConfig

ONE_LINE = re.compile(r"python -m resnet_core( run)?: error: [^\n]+\n")  # the subcommand's parser names itself
OPTIONS = [*("--" + name.replace("_", "-") for name in FIELDS), "--out", "--csv"]
VALUES = st.one_of(
    st.sampled_from([*HOSTILE_TEXT, *HOSTILE_NUMBERS, *ODD_TEXT, "8,14", "8,,14", ",", "20" + ",20" * 50, "-h"]),
    st.sampled_from([c for spec in FIELDS.values() for c in spec.choices or ()]),
    st.integers(-(10**30), 10**30).map(str),
    st.floats(allow_nan=True, allow_infinity=True).map(repr),
    st.text(max_size=40),
)
# Output names stay inside the test's folder: a missing subfolder, the folder itself, a name too long, odd characters.
PATHS = st.one_of(
    st.sampled_from(["missing/run.json", ".", "", "x" * 300, "run\x00.json", "run\udc80.json", "ok.json"]),
    st.text(st.characters(exclude_characters="/", exclude_categories=("Cs",)), min_size=1, max_size=30),
)
PAIRS = st.one_of(
    st.tuples(st.sampled_from(OPTIONS[:-2]), VALUES),
    st.tuples(st.sampled_from(["--out", "--csv"]), PATHS),
    st.tuples(st.sampled_from(OPTIONS), VALUES).map(lambda p: (f"{p[0]}={p[1]}",)),  # --depth=8
    st.tuples(st.sampled_from(["--quiet", "--bogus", "-x", "--", "--dep", "run"]) | st.text(max_size=12)),
)
ARGV = st.tuples(
    st.sampled_from([["run"], ["run"], ["run"], [], ["train"]]),
    st.lists(PAIRS, max_size=6),
).map(lambda parts: [*parts[0], *(token for pair in parts[1] for token in pair)])


class Accepted(Exception):
    """Raised by the stand-in training: the command line was accepted, with these configs."""

    def __init__(self, configs: list[ExperimentConfig]) -> None:
        self.configs = configs


def _accept(configs: list[ExperimentConfig], quiet: bool = False) -> list[object]:
    raise Accepted(configs)


def run_in_process(argv: list[str], folder: Path) -> tuple[int | Accepted, str, str]:
    """(exit status, or Accepted), stdout and stderr; any other exception propagates and fails the test."""
    out, err = io.StringIO(), io.StringIO()
    with pytest.MonkeyPatch.context() as patch, contextlib.redirect_stderr(err), contextlib.redirect_stdout(out):
        patch.setattr(cli, "run_sweep", _accept)
        patch.chdir(folder)
        try:
            cli.main(argv)
        except SystemExit as stop:
            return int(stop.code or 0), out.getvalue(), err.getvalue()
        except Accepted as accepted:
            return accepted, out.getvalue(), err.getvalue()
    raise AssertionError(f"main({argv!r}) returned without running the sweep")


@settings(max_examples=1500, deadline=None)
@given(ARGV)
def test_any_command_line_is_accepted_or_refused_in_one_line(argv: list[str]) -> None:
    with tempfile.TemporaryDirectory() as name:
        outcome, out, err = run_in_process(argv, Path(name))
        assert not list(Path(name).iterdir())  # the writability check leaves nothing behind
    if isinstance(outcome, Accepted):
        assert outcome.configs and all(isinstance(c, ExperimentConfig) for c in outcome.configs)
        assert err == out == ""
    elif outcome == 0:
        assert out.startswith("usage: python -m resnet_core") and err == ""  # only the help exits 0 without running
    else:
        assert outcome == 2
        assert ONE_LINE.fullmatch(err), err


@pytest.mark.parametrize(
    "args, names",
    [
        (["stray\nargument"], "stray\\nargument"),
        (["--l2", "A" * 4000], "l2"),
        (["--width", "-inf"], "--width"),
        (["--depth", "8,,"], None),
    ],
    ids=["newline-token", "huge-value", "negative-inf", "trailing-commas"],
)
def test_hostile_arguments_in_a_real_process_end_in_one_line(args: list[str], names: str | None, tmp_path: Path) -> None:
    """What a terminal shows: exit 2 and one line, or (a valid run) exit 0, and never a traceback."""
    fast = ["--arch", "mlp", "--dataset", "moons", "--width", "2", "--steps", "1", "--n-samples", "200", "--quiet"]
    command = [sys.executable, "-m", "resnet_core", "run", *fast, *args, "--out", str(tmp_path / "run.json")]
    proc = subprocess.run(command, capture_output=True, text=True, timeout=300, cwd=ROOT)
    assert "Traceback" not in proc.stderr
    if names is None:
        assert proc.returncode == 0 and (tmp_path / "run.json").exists()
        return
    assert proc.returncode == 2 and ONE_LINE.fullmatch(proc.stderr), proc.stderr
    assert names in proc.stderr
