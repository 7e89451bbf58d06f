"""Section 5 of the suite: every lesson opened as a visitor opens it, timed until its page is complete.

`lesson_rows`: each lesson link (`?lesson=<name>`, lab/lessons.py) runs in Streamlit's AppTest against
a fresh result cache, so the page computes what it computes on a first visit: its jobs go to the job
workers of serving/jobs.py (one per core, warmed first, as `python server.py` does), in parallel
where the page submits several. The time is the page's whole run, charts included.

`warmed_rows`: the class's case (issue 14, "every lesson opens to its full result in under 2 s after
the server has warmed its lessons"): `python -m ui.prewarm` fills a cache, `python server.py` serves
it, and Chromium opens each lesson link as a new visitor, timed from navigation until the full
result is on screen (the script idle, every chart drawn, no progress bar); a lesson that asks a
question first is timed from the question's Commit click. Beside it, the same page's script alone
(AppTest on the same cache), so the gap is the browser's and the connection's; and first, the floor: a bare
Streamlit page with one small chart (benchmarks/floor_app.py), what any page costs before the lab draws anything.

    python -m benchmarks.lessons --warmed CACHE_DIR   # prints the rows; the cache is warmed first if it is not
    python -m benchmarks.lessons --warmed CACHE_DIR --lesson thousand-layers   # one lesson (warmed in-process)
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from benchmarks import ROOT

TARGET_S = 5.0
WARMED_TARGET_S = 2.0
VIEWPORT = {"width": 1280, "height": 720}
TIMEOUT_MS = 600_000
# The full result is on screen: the script idle and connected, every chart drawn by Plotly, no progress bar or spinner.
RESULT_SHOWN = """() => {
  const app = document.querySelector("[data-testid='stApp']");
  if (!app || app.dataset.testScriptState !== 'notRunning' || app.dataset.testConnectionState !== 'CONNECTED') return false;
  const charts = [...document.querySelectorAll("[data-testid='stPlotlyChart']")];
  return charts.length > 0 && charts.every(c => c.querySelector('.js-plotly-plot .main-svg'))
    && !document.querySelector("[data-testid='stProgress'], [data-testid='stSpinner']");
}"""
SVG_NODES = "() => document.querySelectorAll('.js-plotly-plot svg *').length"  # the drawing's size: one node per marker
# Beside the wall time, which the load on a shared machine stretches: the tab's main-thread CPU seconds (DevTools'
# ThreadTime: script, style, layout and paint), which waiting for a core does not count, and its tasks' wall time.


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


def open_lesson(page: Any, url: str, choice: str) -> tuple[float, float]:
    """(seconds from navigation to the full result, or to the question; seconds from Commit to the result, or 0).

    `choice`: the answer to commit to the lesson's question ("" for a lesson that asks none)."""
    start = time.perf_counter()
    page.goto(url, timeout=TIMEOUT_MS)
    if not choice:
        page.wait_for_function(RESULT_SHOWN, timeout=TIMEOUT_MS)
        return time.perf_counter() - start, 0.0
    answer = page.get_by_text(choice, exact=True)
    answer.wait_for(timeout=TIMEOUT_MS)
    opened = time.perf_counter() - start
    answer.click()
    commit = page.get_by_role("button", name="Commit my prediction")
    page.wait_for_function("b => !b.disabled", arg=commit.element_handle(), timeout=TIMEOUT_MS)
    start = time.perf_counter()
    commit.click()
    page.wait_for_function(RESULT_SHOWN, timeout=TIMEOUT_MS)
    return opened, time.perf_counter() - start


def floor_row(row: Any, browser: Any) -> Any:
    """Streamlit's own cost: benchmarks/floor_app.py (one small chart, the lab's .streamlit config) opened as a lesson is."""
    from benchmarks.serve import free_port, launch, stop_server

    port = free_port()
    url = f"http://127.0.0.1:{port}"
    argv = [sys.executable, "-m", "streamlit", "run", "benchmarks/floor_app.py", "--server.port", str(port)]
    server = launch([*argv, "--server.address", "127.0.0.1"], dict(os.environ), url)
    try:
        page = browser.new_context(viewport=VIEWPORT).new_page()
        first, again = (open_lesson(page, url, "")[0] for _ in range(2))
        page.context.close()
    finally:
        stop_server(server)
    return row(
        "5 lessons",
        "floor: Streamlit and one small chart (benchmarks/floor_app.py) in Chromium, new visitor",
        first,
        "s",
        note=f"same tab again {again:.2f} s; what any Streamlit page costs here before the lab draws anything; "
        f"load {os.getloadavg()[0]:.1f}",
    )


def warmed_rows(row: Any, cache_dir: str | None = None, names: list[str] | None = None) -> list[Any]:
    """Warm `cache_dir` (cached lessons are skipped; default: a new one), then time each lesson's script and page.

    `names`: only these lessons, warmed by their first script run here (the prewarm command would compute them all)."""
    if cache_dir is None:
        with tempfile.TemporaryDirectory() as new:
            return warmed_rows(row, new, names)
    from playwright.sync_api import sync_playwright

    from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server
    from lab.lessons import LESSONS, lesson_by_name
    from ui import prewarm

    env = os.environ | {"RESNET_LAB_CACHE_DIR": cache_dir}
    if not names:
        subprocess.run([sys.executable, "-m", "ui.prewarm"], cwd=ROOT, env=env, check=True, capture_output=True)
    lessons = [lesson_by_name(name) for name in names] if names else LESSONS
    os.environ["RESNET_LAB_CACHE_DIR"] = cache_dir
    script = {}
    for lesson in lessons:
        for _ in range(2):  # the second run: this process's first page load also imports the app's modules
            start = time.perf_counter()
            problem = prewarm.warm(lesson)  # the page's whole script run past its question, nothing to compute
            script[lesson.name] = (time.perf_counter() - start, problem)
    rows = []
    server, url = start_server(cache_dir)
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            rows.append(floor_row(row, browser))
            print(rows[-1], flush=True)
            for lesson in lessons:
                context = browser.new_context(viewport=VIEWPORT)  # a new visitor: no session, no browser cache
                page = context.new_page()
                devtools = context.new_cdp_session(page)
                devtools.send("Performance.enable")
                link, choice = url + "/" + lesson.link(), lesson.choices[0] if lesson.question else ""
                times = [open_lesson(page, link, choice)]
                busy = {m["name"]: m["value"] for m in devtools.send("Performance.getMetrics")["metrics"]}
                times.append(open_lesson(page, link, choice))
                nodes = page.evaluate(SVG_NODES)
                context.close()
                first, again = (commit or opened for opened, commit in times)
                seconds, problem = script[lesson.name]
                what = "Commit click -> full result" if lesson.question else "open -> full result"
                rows.append(
                    row(
                        "5 lessons",
                        f"warmed lesson {lesson.name}: {what} in Chromium, new visitor",
                        first,
                        "s",
                        f"<= {WARMED_TARGET_S:g} s",
                        first <= WARMED_TARGET_S,
                        f"same tab again {again:.2f} s; the script alone {seconds:.2f} s; {nodes} SVG nodes in the charts; "
                        f"the new visitor's main thread: {busy['ThreadTime']:.1f} s CPU, tasks {busy['TaskDuration']:.1f} s"
                        + (f"; question shown {times[0][0]:.2f} s after navigation" if lesson.question else "")
                        + (f"; page error: {problem}" if problem else "")
                        + f"; load {os.getloadavg()[0]:.1f}",
                    )
                )
                print(rows[-1], flush=True)
            browser.close()
    finally:
        stop_server(server)
    return rows


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lessons", description="warmed lessons in Chromium")
    parser.add_argument("--warmed", metavar="CACHE_DIR", required=True, help="a result cache (warmed first if need be)")
    parser.add_argument("--lesson", action="append", metavar="NAME", help="time only this lesson (repeatable)")
    args = parser.parse_args()
    from benchmarks.run import Row, table

    print(table(warmed_rows(Row, args.warmed, args.lesson)))
