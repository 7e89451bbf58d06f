"""Sections 6 and 7 of the suite: peak memory of the CLI and of the app serving one Train, and browser latency.

Also the one home of starting the app for a test or a benchmark: `free_port`, `streamlit_argv`,
`launch` (start, wait for the health check), `start_server` and `stop_server`; tests/conftest.py,
tests/test_deploy.py and benchmarks/reliability.py use these.

The app is the real `streamlit run app.py` on a free loopback port with a fresh result cache
(so its Train really trains), driven by Debian's chromium through Playwright; peak RSS is the
kernel's high-water mark (VmHWM) of the server process, read after the Train finished.
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from benchmarks import ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
FIRST_CHART = ".js-plotly-plot .main-svg"
MEMORY_TARGET_MB = 1024
FIRST_CHART_TARGET_S = 2.0
WARM_NOTE = "the page modules imported and the job workers warm (torch, engine) before it listens"


def row(*args: Any, **kwargs: Any) -> Any:
    from benchmarks.run import Row  # run.py imports this module: import its Row lazily

    return Row(*args, **kwargs)


# Linux carries a process's RSS high-water mark across fork and exec, so a child forked from this big
# process would report at least our own peak: a tiny interpreter starts the CLI and reports its ru_maxrss.
PEAK_OF_CHILD = (
    "import os, subprocess, sys; p = subprocess.Popen(sys.argv[1:]); _, s, u = os.wait4(p.pid, 0); print(s, u.ru_maxrss)"
)


def cli_peak_mb() -> float:
    """Peak RSS of `python -m resnet_core run` with every default, in MB."""
    command = [sys.executable, "-c", PEAK_OF_CHILD, sys.executable, "-m", "resnet_core", "run", "--quiet", "--out", os.devnull]
    status, kib = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=True).stdout.split()[-2:]
    if int(status) != 0:
        raise RuntimeError(f"python -m resnet_core run failed with wait status {status}")
    return int(kib) / 1024


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def free_port() -> int:
    """A loopback port nobody is listening on right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def streamlit_argv(port: int) -> list[str]:
    """`python server.py` (`streamlit run app.py`, warm) on 127.0.0.1:port; the rest as .streamlit/config.toml says."""
    return [
        sys.executable,
        "server.py",
        "--server.port",
        str(port),
        "--server.address",
        "127.0.0.1",
    ]


def stop_server(server: subprocess.Popen, seconds: float = 20) -> None:
    """SIGTERM the server's process group (it and its job workers), SIGKILL if it outlives `seconds`."""
    with contextlib.suppress(ProcessLookupError):
        os.killpg(server.pid, signal.SIGTERM)
    try:
        server.wait(seconds)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGKILL)
        server.wait(seconds)


def launch(argv: list[str], env: dict[str, str], url: str, log: Path | None = None, seconds: float = 90) -> subprocess.Popen:
    """Start a server in its own session (stdout and stderr to `log` if given) and wait until url's health check says ok.

    A server that exits or stays silent for `seconds` is stopped and a RuntimeError carries its log's tail.
    """
    out = log.open("w") if log else subprocess.DEVNULL
    try:
        server = subprocess.Popen(argv, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    finally:
        if log:
            out.close()
    deadline = time.monotonic() + seconds
    while True:
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as response:
                if response.read().strip() == b"ok":
                    return server
        except OSError:
            pass
        if server.poll() is not None or time.monotonic() > deadline:
            stop_server(server)
            tail = log.read_text()[-3000:] if log else ""
            raise RuntimeError(f"{' '.join(argv[-12:])} did not answer its health check within {seconds:.0f} s; its log:\n{tail}")
        time.sleep(0.3)


def start_server(
    cache_dir: str, log: Path | None = None, settings: dict[str, str] | None = None, seconds: float = 90
) -> tuple[subprocess.Popen, str]:
    """`streamlit run app.py` on a free port with its own cache (and host settings), healthy: (process, base URL)."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = os.environ | {"RESNET_LAB_CACHE_DIR": cache_dir} | (settings or {})
    return launch(streamlit_argv(port), env, url, log, seconds), url


def app_rows() -> list[Any]:
    """Open the landing page twice (first chart timed), press Train, wait for done, read the server's peak RSS."""
    from playwright.sync_api import sync_playwright

    rows = []
    with tempfile.TemporaryDirectory() as cache_dir:
        start = time.perf_counter()
        server, url = start_server(cache_dir)
        healthy = time.perf_counter() - start
        try:
            rows.append(row("7 browser", "server start -> health check ok (python server.py)", healthy, "s", note=WARM_NOTE))
            rows.append(row("6 memory", "app server idle after start", peak_rss_mb(server.pid), "MB peak RSS"))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                page = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
                for visit, note in (
                    (1, "first visit after the health check: computes the CNN-56 pair's init gradients"),
                    (2, "a second visit: the init gradients come from the cache"),
                ):
                    start = time.perf_counter()
                    page.goto(url)
                    page.wait_for_selector(FIRST_CHART, state="visible", timeout=120_000)
                    seconds = time.perf_counter() - start
                    rows.append(
                        row(
                            "7 browser",
                            f"landing page -> first chart drawn, visit {visit}",
                            seconds,
                            "s",
                            f"<= {FIRST_CHART_TARGET_S:g} s",
                            seconds <= FIRST_CHART_TARGET_S,
                            note,
                        )
                    )
                start = time.perf_counter()
                page.get_by_role("button", name=re.compile("Train")).first.click()
                page.get_by_text(re.compile(r"done: \d+ steps")).wait_for(timeout=600_000)
                trained = time.perf_counter() - start
                browser.close()
            peak = peak_rss_mb(server.pid)
            rows.append(
                row(
                    "6 memory",
                    "app server through one default Train",
                    peak,
                    "MB peak RSS",
                    f"<= {MEMORY_TARGET_MB} MB",
                    peak <= MEMORY_TARGET_MB,
                    f"Train click -> done in {trained:.1f} s (browser)",
                )
            )
        finally:
            stop_server(server)
    return rows


def memory_and_browser(skip_app: bool) -> list[Any]:
    peak = cli_peak_mb()
    rows = [
        row(
            "6 memory",
            "CLI default run (python -m resnet_core run)",
            peak,
            "MB peak RSS",
            f"<= {MEMORY_TARGET_MB} MB",
            peak <= MEMORY_TARGET_MB,
        )
    ]
    if skip_app:
        return rows
    if not (ROOT / "app.py").exists() or not Path(CHROMIUM).exists():
        return [*rows, row("7 browser", "app or chromium missing: not measured", float("nan"), "")]
    return rows + app_rows()
