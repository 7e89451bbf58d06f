"""Lessons ready before class: `python -m ui.prewarm` opens every lesson as a student would.

Each lesson's link runs through the real app (Streamlit's AppTest, no browser): the page's
own jobs are computed by the job workers into the shared result cache, so during class every
lesson on every device opens with its result on screen. Because it goes through the pages, it
computes exactly what they ask for, whatever they become.

    python -m ui.prewarm                         # compute every lesson (once: cached results are kept)
    python -m ui.prewarm --export lessons.zip    # ... then write the lessons' results to one file
    python -m ui.prewarm --import lessons.zip    # on the offline laptop: load that file, compute nothing

The cache is RESNET_LAB_CACHE_DIR (docs/DEPLOY.md); run it with the same setting as the server.
With RESNET_LAB_PREWARM=1 the server starts this command itself, once, in the background, at a
lower CPU priority than the visitors' jobs (`start_in_background`, called by app.py).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from lab.lessons import LESSON_PARAM, LESSONS, Lesson
from serving.bundle import export_bundle, import_bundle
from serving.cache import default_cache
from serving.settings import PREFIX, host_settings
from ui.predict import COMMITTED_KEY

APP = Path(__file__).resolve().parent.parent / "app.py"
SETTING = PREFIX + "PREWARM"
LESSON_SECONDS = 1800  # minutes for the longest lesson on a loaded 2-core laptop (issue 14), and room


def warm(lesson: Lesson) -> str:
    """Open the lesson's link until its page has finished; returns a problem, or "" when it ended cleanly."""
    from streamlit.testing.v1 import AppTest  # here, not at the top: app.py imports this module on every server start

    at = AppTest.from_file(str(APP), default_timeout=LESSON_SECONDS)
    at.query_params[LESSON_PARAM] = lesson.name
    at.session_state[COMMITTED_KEY] = {lesson.name: ""}  # past the lesson's question, as the presenter's Reveal
    at.run()
    problems = [*(e.value for e in at.exception), *(e.value for e in at.error)]
    return " / ".join(str(p) for p in problems)


def start_in_background() -> subprocess.Popen | None:
    """With RESNET_LAB_PREWARM=1: this command as a niced child process (call once per server); else None."""
    if host_settings().get(SETTING, "").strip().lower() not in ("1", "true", "yes", "on"):
        return None
    return subprocess.Popen(
        [sys.executable, "-m", "ui.prewarm"],
        cwd=APP.parent,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=(lambda: os.nice(10)) if hasattr(os, "nice") else None,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m ui.prewarm", description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", type=Path, metavar="FILE", help="after computing, write the lessons' results here")
    parser.add_argument("--import", dest="source", type=Path, metavar="FILE", help="load results exported elsewhere")
    args = parser.parse_args(argv)
    cache = default_cache()
    if args.source:
        try:
            print(f"imported {import_bundle(cache, args.source)} results into {cache.root}")
        except (OSError, ValueError) as error:
            print(f"import failed: {error}", file=sys.stderr)
            return 1
        return 0
    began, failed = time.time(), 0
    for lesson in LESSONS:
        start = time.monotonic()
        problem = warm(lesson)
        failed += bool(problem)
        print(f"{lesson.name}: {'FAILED: ' + problem if problem else 'ready'} ({time.monotonic() - start:.1f} s)", flush=True)
    if args.export:
        count = export_bundle(cache, args.export, used_since=began - 1)
        print(f"exported {count} results to {args.export}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
