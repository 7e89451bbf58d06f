"""Serve the lab: `python server.py [streamlit options]` is `streamlit run app.py [options]`, warm before it listens.

`streamlit run` imports nothing until a visitor's session runs app.py, so the first visitor waited
for torch, scikit-learn, pandas and Plotly here and again in a job worker (7.6 s on a quiet
machine, benchmarks/RESULTS.md). This entry point does that work first: it imports every module
the pages import (ui/ and lab/, which bring the engine), and starts the job workers and waits
until each has imported the engine. Only then does the server listen, so its health check says
ok when a first chart can be drawn at once.
"""

from __future__ import annotations

import importlib
import pkgutil
import sys

import lab
import ui
from serving import jobs

WORKER_MODULES = ("lab.jobs",)  # every job target lives there; it imports the engine


def warm() -> None:
    """Import the pages' modules in this process, and the engine in every job worker."""
    for package in (ui, lab):
        for module in pkgutil.iter_modules(package.__path__, f"{package.__name__}."):
            importlib.import_module(module.name)
    jobs.executor().warm(WORKER_MODULES)


def main() -> None:
    from streamlit.web import cli

    warm()
    sys.argv = ["streamlit", "run", "app.py", *sys.argv[1:]]
    sys.exit(cli.main())


if __name__ == "__main__":
    main()
