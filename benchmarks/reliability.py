"""Reliability under load, measured against the real server: `python benchmarks/reliability.py [--sessions 30]`.

1. load: N browser sessions (Debian's chromium through Playwright) open the same lesson link at
   once on one `streamlit run app.py`; every one must finish its training view. Meanwhile a thread
   asks /_stcore/health every 0.2 s and keeps the slowest answer. Reported: sessions completed, how
   many times the lesson's training was computed (the server logs one line per job started, and one
   per job cancelled because nobody watched it),
   the slowest health answer, and the peak RSS of the server process and of its workers.
2. many tabs: 4 tabs open an expensive init-only view and close at once; reported: how long the
   workers kept computing after the last tab closed (a job nobody waits for is cancelled).
Figures go to docs/RELIABILITY.md by hand, with the date and the machine; nothing here fails on time.
`--browser-nice 10` runs the browsers below the server's priority (here they share its 2 cores; a
visitor's browser runs on the visitor's device), and `--browser-cpus 1` confines them to CPU 1. `--profile flame.txt` samples the server process with py-spy during the load (requirements-dev.txt):
where its own CPU time per session goes. `--tabs 0` skips part 2. `--lesson shortcuts-abc` has every session open a science lesson instead of thousand-layers.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, peak_rss_mb, start_server, stop_server

# Lessons that train on open without a question, and what their page shows only once the training is on it: the
# Gradient Flow run's replay control, a science page's downloads of a finished experiment.
DONE_TEXTS = {
    "thousand-layers": "Replay speed",  # MLP-1000, 60 steps: one job
    "shortcuts-abc": "Download CSV (every measurement)",  # options A, B, C x 3 seeds: nine jobs, five figures
    "identity-l2": "Download CSV (every measurement)",  # five L2 strengths x 3 seeds: fifteen jobs
    "lesion-study": "Download JSON (every deletion and path length)",
}
EXPENSIVE = "/?depth=8&width=256&batch_size=4096&steps=0"


class HealthProbe(threading.Thread):
    """Asks /_stcore/health every 0.2 s; keeps every answer's latency (a timeout counts as its 10 s), when it was asked
    (seconds since the probe started) and the load average."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.latencies, self.asked, self.loads, self.stop = url, [], [], [], threading.Event()
        self.started = time.monotonic()

    def run(self) -> None:
        while not self.stop.is_set():
            began = time.monotonic()
            try:
                with urllib.request.urlopen(f"{self.url}/_stcore/health", timeout=10) as response:
                    response.read()
            except OSError:
                pass
            self.latencies.append(time.monotonic() - began)
            self.asked.append(began - self.started)
            self.loads.append(os.getloadavg()[0])
            time.sleep(0.2)

    def summary(self) -> str:
        """p50 / p95 / max of the answers, the ones over 1 s (how long, asked when), and the load average's range."""
        ordered = sorted(self.latencies)
        p50, p95 = ordered[len(ordered) // 2], ordered[min(len(ordered) - 1, int(0.95 * len(ordered)))]
        slow = [f"{latency:.1f} s at {at:.0f} s" for at, latency in zip(self.asked, self.latencies, strict=True) if latency > 1]
        return (
            f"{len(ordered)} checks, p50 {p50:.3f} s, p95 {p95:.3f} s, max {ordered[-1]:.2f} s, {len(slow)} over 1 s"
            f"{' (' + ', '.join(slow) + ')' if slow else ''}; load average {min(self.loads):.1f} to {max(self.loads):.1f}"
        )


def children(pid: int) -> list[int]:
    """The worker processes the server spawned (direct children, read from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pids: list[int]) -> float:
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    return total


def visitor_chromium(folder: Path, niceness: int, cpus: str = "") -> str:
    """A chromium `niceness` below normal priority and, if `cpus` is given, confined to those CPUs (taskset's list):
    browsers that stand in for the visitors' own devices, kept off the server's share of the machine."""
    if niceness == 0 and not cpus:
        return CHROMIUM
    wrapper = folder / "chromium-visitor"
    pin = f"taskset -c {cpus} " if cpus else ""
    wrapper.write_text(f'#!/bin/sh\nexec {pin}nice -n {niceness} {CHROMIUM} "$@"\n')
    wrapper.chmod(0o755)
    return str(wrapper)


async def open_sessions(
    url: str, n: int, timeout_s: float, chromium: str = CHROMIUM, lesson: str = "thousand-layers"
) -> list[float | str]:
    """N fresh browser contexts open the lesson link at once; each one's seconds to the finished view, or why not."""
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)

        async def session() -> float | str:
            context = await browser.new_context(viewport={"width": 1280, "height": 720})
            page = await context.new_page()
            began = time.monotonic()
            try:
                await page.goto(f"{url}/?lesson={lesson}", timeout=timeout_s * 1000)
                await page.get_by_text(DONE_TEXTS[lesson]).first.wait_for(timeout=timeout_s * 1000)
                return time.monotonic() - began
            except Exception as error:
                return f"{type(error).__name__}: {str(error).splitlines()[0]}"
            finally:
                await context.close()

        results = await asyncio.gather(*(session() for _ in range(n)))
        await browser.close()
        return list(results)


async def open_and_close(url: str, tabs: int, seconds: float) -> None:
    from playwright.async_api import async_playwright

    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        pages = [await (await browser.new_context()).new_page() for _ in range(tabs)]
        await asyncio.gather(*(page.goto(url + EXPENSIVE, timeout=60_000) for page in pages))
        await asyncio.sleep(seconds)
        await browser.close()


def py_spy(pid: int, output: str) -> subprocess.Popen[bytes]:
    """Sample `pid`'s Python stacks (its CPU time only, not idle waits) into `output`, collapsed one stack a line."""
    command = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(pid), "--rate", "50"]
    return subprocess.Popen([*command, "--nonblocking", "--format", "raw", "--output", output], stdout=subprocess.DEVNULL)


def load(
    sessions: int, profile: str | None = None, browser_nice: int = 0, lesson: str = "thousand-layers", browser_cpus: str = ""
) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "server.log"
        server, url = start_server(str(Path(tmp) / "cache"), log)
        probe = HealthProbe(url)
        probe.start()
        sampler = py_spy(server.pid, profile) if profile else None
        try:
            began, cpu_before = time.monotonic(), cpu_seconds([server.pid])
            results = asyncio.run(
                open_sessions(url, sessions, 600, visitor_chromium(Path(tmp), browser_nice, browser_cpus), lesson)
            )
            elapsed, server_cpu = time.monotonic() - began, cpu_seconds([server.pid]) - cpu_before
            probe.stop.set()
            workers = children(server.pid)
            server_peak = peak_rss_mb(server.pid)
            worker_peaks = [peak_rss_mb(pid) for pid in workers]
        finally:
            if sampler is not None:
                sampler.send_signal(2)  # py-spy writes its file on SIGINT
                sampler.wait(60)
            stop_server(server, 30)
        started = re.findall(r"job started: (\S+)", log.read_text())
        abandoned = re.findall(r"job cancelled: (\S+),", log.read_text())
        done = [r for r in results if isinstance(r, float)]
        median = f"median {statistics.median(done):.0f} s" if done else "none"
        print(f"load: {len(done)}/{sessions} sessions finished in {elapsed:.0f} s ({median})")
        for reason in sorted({r for r in results if isinstance(r, str)}):
            print(f"load: failed: {reason}")
        print(f"load: jobs started: {', '.join(f'{k} x{started.count(k)}' for k in sorted(set(started)))}")
        print(f"load: jobs cancelled as abandoned: {', '.join(abandoned) or 'none'}")
        print(f"load: health: {probe.summary()}")
        print(f"load: peak RSS server {server_peak:.0f} MB, workers {', '.join(f'{m:.0f}' for m in worker_peaks)} MB")
        print(f"load: server process CPU {server_cpu:.0f} s ({server_cpu / sessions:.1f} s per session)")


def many_tabs(tabs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        server, url = start_server(str(Path(tmp) / "cache"))
        try:
            asyncio.run(open_and_close(url, tabs, seconds=5))
            closed = time.monotonic()
            workers = children(server.pid)
            last_busy, before = closed, cpu_seconds(workers)
            while time.monotonic() - closed < 120:
                time.sleep(1)
                now = cpu_seconds(workers)
                if now - before > 0.5:  # more than half a core-second in the last second: still computing
                    last_busy = time.monotonic()
                before = now
                if time.monotonic() - last_busy > 10:
                    break
            print(
                f"many tabs: {tabs} tabs of {EXPENSIVE} closed after 5 s; workers computed for "
                f"{last_busy - closed:.0f} s more; server peak RSS {peak_rss_mb(server.pid):.0f} MB"
            )
        finally:
            stop_server(server, 30)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=30)
    parser.add_argument("--tabs", type=int, default=4)
    parser.add_argument(
        "--browser-nice",
        type=int,
        default=0,
        help="run the browsers at this niceness: on one machine they stand in for the visitors' own devices",
    )
    parser.add_argument(
        "--browser-cpus",
        default="",
        help="confine the browsers to these CPUs (taskset's list, e.g. 1): the visitors' devices off the server's core",
    )
    parser.add_argument("--profile", help="write py-spy's samples of the server process during the load here")
    parser.add_argument("--lesson", choices=DONE_TEXTS, default="thousand-layers", help="the lesson every session opens")
    args = parser.parse_args()
    load(args.sessions, args.profile, args.browser_nice, args.lesson, args.browser_cpus)
    if args.tabs:
        many_tabs(args.tabs)


if __name__ == "__main__":
    main()
