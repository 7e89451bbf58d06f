"""Serve the lab: `python server.py [streamlit options]` is `streamlit run app.py [options]`, warm before it listens.

`streamlit run` imports nothing until a visitor's session runs app.py, so the first visitor waited
for torch, scikit-learn, pandas and Plotly here and again in a job worker (seconds, even on a quiet
machine: benchmarks/RESULTS.md). This entry point does that work first: it imports every module
the pages import (ui/ and lab/, which bring the engine), and starts the job workers and waits
until each has imported the engine. Only then does the server listen, so its health check says
ok when a first chart can be drawn at once.
"""

from __future__ import annotations

import ast
import importlib
import importlib.util
import sys
from pathlib import Path

from serving import jobs

ROOT = Path(__file__).resolve().parent

WORKER_MODULES = (
    "lab.jobs",  # every job target lives there; it imports the engine
    "sklearn.datasets",  # resnet_core.data imports scikit-learn on its first load, not at import
    "sklearn.model_selection",
    "torch._dynamo",  # torch.optim imports it at the first optimiser: seconds of a first training (RESULTS.md, "MLP path")
)


def page_imports() -> list[str]:
    """Every module app.py and the views import (`from a import b` counts a.b when b is a module)."""
    names: list[str] = []
    for path in [ROOT / "app.py", *sorted((ROOT / "views").glob("*.py"))]:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names += [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
                names.append(node.module)
                names += [
                    f"{node.module}.{a.name}"
                    for a in node.names
                    if importlib.util.find_spec(node.module) and _is_module(f"{node.module}.{a.name}")
                ]
    return list(dict.fromkeys(names))


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:
        return False


def warm() -> None:
    """Import the pages' modules in this process, and the engine in every job worker."""
    for name in page_imports():
        try:
            importlib.import_module(name)
        except Exception:  # a broken page must not keep the others offline: it shows its own error when visited
            jobs.LOG.exception("warm-up: %s does not import", name)
    jobs.executor().warm(WORKER_MODULES)


def main() -> None:
    from streamlit.web import cli

    warm()
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
