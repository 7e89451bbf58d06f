"""Lint and format are part of the suite, so the README's test command and CI both enforce them."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT


@pytest.mark.parametrize("command", [["check", "."], ["format", "--check", "."]], ids=["ruff check", "ruff format --check"])
def test_ruff_is_clean(command: list[str]) -> None:
    result = subprocess.run([sys.executable, "-m", "ruff", *command], cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


# What each layer may import from the project (views -> ui -> serving / lab -> resnet_core) and from outside.
ALLOWED = {
    "resnet_core": {"resnet_core"},
    "lab": {"lab", "resnet_core"},
    "serving": {"serving", "resnet_core"},
    "ui": {"ui", "lab", "serving", "resnet_core"},
}
FORBIDDEN_EVERYWHERE_BELOW_UI = {"streamlit"}
PROJECT = {"resnet_core", "lab", "serving", "ui", "views"}
ENTRY_POINTS = {"resnet_core/__main__.py"}  # like app.py, the CLI composes every layer


def imported_packages(path: Path) -> set[str]:
    import ast

    tree = ast.parse(path.read_text())
    names = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    names |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module and not node.level}
    return {name.split(".")[0] for name in names}


@pytest.mark.parametrize("layer", ALLOWED)
def test_layers_import_one_way(layer: str) -> None:
    wrong = {}
    for path in sorted((ROOT / layer).rglob("*.py")):
        if str(path.relative_to(ROOT)) in ENTRY_POINTS:
            continue
        packages = imported_packages(path)
        bad = (packages & PROJECT) - ALLOWED[layer]
        if layer != "ui":
            bad |= packages & FORBIDDEN_EVERYWHERE_BELOW_UI
        if layer == "resnet_core":
            bad |= packages & {"plotly"}
        if bad:
            wrong[str(path.relative_to(ROOT))] = sorted(bad)
    assert not wrong, f"imports against the layering (docs/ARCHITECTURE.md): {wrong}"


# every ASCII control character but newline, a tab included: "\text" lost its "\t" to one (no file here holds a tab)
CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")


def test_no_source_or_doc_holds_a_control_character() -> None:
    """A "\\t" or "\\b" typed into text that a tool unescaped becomes a tab or backspace: on screen a LaTeX
    formula lost its \\text and \\binom that way (views/theory.py), and nothing else would notice."""
    listed = subprocess.run(["git", "ls-files", "*.py", "*.md"], cwd=ROOT, capture_output=True, text=True, check=True)
    found = {
        f"{name}:{number}"
        for name in listed.stdout.split()
        for number, line in enumerate((ROOT / name).read_text().split("\n"), 1)  # splitlines would drop \f, \v
        if CONTROL.search(line)
    }
    assert not found, f"control characters in {sorted(found)}"


def test_a_tab_and_a_backspace_are_control_characters() -> None:
    """The two that broke the theory page's formula, where "\\text" and "\\binom" lost their first letters: both found."""
    assert CONTROL.search("\\#\\{\text{paths}\\}") and CONTROL.search("= \binom{n}{k}")
    assert not CONTROL.search("one line\n")
