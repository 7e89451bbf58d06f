"""The server's CPU seconds for one session opening a lesson: `python -m benchmarks.page_cpu shortcuts-abc --opens 4`.

Each open is a new session (Streamlit's AppTest) running the lesson's page script in a thread of this process, as
the server runs it, on the result cache the environment names (`RESNET_LAB_CACHE_DIR`; warm it first with
`python -m ui.prewarm`, or the first open trains). The first open builds what the server shares (ui.shared); the
later ones are what every other session of a class costs. Process CPU time, so AppTest's own reading of the
page is included. Figures go to docs/RELIABILITY.md by hand; nothing here fails on time.
"""

from __future__ import annotations

import argparse
import os
import time

from lab.lessons import LESSONS
from ui.predict import COMMITTED_KEY
from ui.prewarm import APP


def open_cpu_seconds(lesson: str) -> tuple[float, int]:
    """CPU seconds of one session's open of the lesson link (past its question), and the charts it drew."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    at.query_params["lesson"] = lesson
    at.session_state[COMMITTED_KEY] = {lesson: ""}  # past the lesson's question, as the presenter's Reveal
    began = time.process_time()
    at.run()
    seconds = time.process_time() - began
    if at.exception:
        raise RuntimeError(f"{lesson}: {at.exception[0].value}")
    return seconds, len(at.get("plotly_chart"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("lessons", nargs="+", choices=[lesson.name for lesson in LESSONS])
    parser.add_argument("--opens", type=int, default=4)
    args = parser.parse_args()
    for lesson in args.lessons:
        opens = [open_cpu_seconds(lesson) for _ in range(args.opens)]
        print(
            f"{lesson}: CPU s per open {', '.join(f'{s:.2f}' for s, _ in opens)} ({opens[-1][1]} charts); "
            f"load average {os.getloadavg()[0]:.1f}"
        )


if __name__ == "__main__":
    main()
