"""Section 5 of the suite: every lesson opened as a visitor opens it, timed until its page is complete.

Each lesson link (`?lesson=<name>`, lab/lessons.py) runs in Streamlit's AppTest against a fresh
result cache, so the page computes what it computes on a first visit: its jobs go to the job
workers of serving/jobs.py (one per core, warmed first, as `python server.py` does), in parallel
where the page submits several. The time is the page's whole run, charts included.
"""

from __future__ import annotations

import os
import tempfile
import time
from typing import Any

from benchmarks import ROOT

TARGET_S = 5.0


def lesson_rows(row: Any) -> list[Any]:
    from streamlit.testing.v1 import AppTest

    from lab.lessons import LESSONS
    from server import WORKER_MODULES
    from serving import jobs

    rows = []
    with tempfile.TemporaryDirectory() as cache_dir:
        pool = jobs.executor()
        pool.warm(WORKER_MODULES)
        for lesson in LESSONS:
            os.environ["RESNET_LAB_CACHE_DIR"] = f"{cache_dir}/{lesson.name}"  # read per call: an empty cache per lesson
            start = time.perf_counter()
            at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=1200)
            at.query_params["lesson"] = lesson.name
            at.run()
            seconds = time.perf_counter() - start
            problem = at.exception or [e.value for e in at.error]
            rows.append(
                row(
                    "5 lessons",
                    f"lesson {lesson.name}: open -> page complete",
                    seconds,
                    "s",
                    f"<= {TARGET_S:g} s",
                    seconds <= TARGET_S and not problem,
                    f"{pool.size} workers x {pool.threads} thread(s); {len(at.get('plotly_chart'))} charts"
                    + (f"; page error: {problem}" if problem else ""),
                )
            )
        del os.environ["RESNET_LAB_CACHE_DIR"]
    return rows
