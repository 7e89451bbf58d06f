"""Shared fixtures: an isolated result cache, Plotly spec decoding, a live `streamlit run app.py`, Debian chromium.

The browser fixtures start the real server once per session on a free loopback port and
drive /usr/bin/chromium through Playwright; tests using them are marked `browser` and skip
with a reason where chromium or Playwright is missing. Screenshots go to artifacts/screenshots/
(git-ignored).
"""

from __future__ import annotations

import os

# Idle OpenMP threads sleep instead of spinning (resnet_core sets this too, but test modules may import torch first).
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

import base64
import contextlib
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from benchmarks.serve import CHROMIUM, CHROMIUM_ARGS, start_server, stop_server

ROOT = Path(__file__).resolve().parent.parent
SCREENSHOTS = ROOT / "artifacts" / "screenshots"


@pytest.fixture(autouse=True)
def torch_threads() -> Iterator[None]:
    """Restore torch's thread count after every test: the CLI and the host limits set it process-wide,
    and the thread count changes the summation order, so it must not leak from one test into another."""
    import torch

    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def settings_read_afresh() -> Iterator[None]:
    """The server reads the host's settings once per process; each test sets its own, so each reads them anew."""
    from serving.settings import host_settings

    host_settings.cache_clear()
    yield
    host_settings.cache_clear()


@pytest.fixture(autouse=True)
def shared_results_afresh() -> Iterator[None]:
    """Finished results are shared per server process (ui.shared); each test starts with none, as a fresh server does."""
    from ui import shared

    shared.SHARED.clear()
    yield
    shared.SHARED.clear()


@pytest.fixture
def cache_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A private result cache for one test: what it computes can't leak into another test or the real cache."""
    path = tmp_path / "cache"
    monkeypatch.setenv("RESNET_LAB_CACHE_DIR", str(path))
    return path


def decode(value: Any) -> np.ndarray:
    """Plotly >= 6 writes arrays as {"dtype", "bdata"(, "shape")}; plain lists pass through."""
    if isinstance(value, dict) and "bdata" in value:
        array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=np.dtype(value["dtype"]))
        if "shape" in value:
            array = array.reshape([int(n) for n in str(value["shape"]).split(",")])
        return array
    return np.asarray(value, dtype=object if value and isinstance(value[0], str) else float)


def chart_specs(at: Any) -> list[dict[str, Any]]:
    """Every Plotly figure an AppTest run drew, as dicts (title text under "title")."""
    specs = []
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        text = spec["layout"].get("title", {}).get("text", "")
        spec["title"] = re.sub("</?sup>", "", text.replace("<br>", " "))  # as read: a title's lines (chart_title) joined
        specs.append(spec)
    return specs


@contextlib.contextmanager
def serve_app(workdir: Path) -> Iterator[tuple[str, int]]:
    """`streamlit run app.py` on a free loopback port with its own cache dir under `workdir`: (base URL, process id)."""
    try:
        server, url = start_server(str(workdir / "server-cache"), workdir / "streamlit.log", seconds=60)
    except RuntimeError as err:
        pytest.fail(str(err))
    try:
        yield url, server.pid
    finally:
        stop_server(server)


@pytest.fixture(scope="session")
def streamlit_process(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    """One server for the whole browser session."""
    with serve_app(tmp_path_factory.mktemp("server")) as served:
        yield served


@pytest.fixture(scope="session")
def app_server(streamlit_process: tuple[str, int]) -> str:
    """The running app's base URL, e.g. http://127.0.0.1:8531."""
    return streamlit_process[0]


@pytest.fixture(scope="session")
def app_server_pid(streamlit_process: tuple[str, int]) -> int:
    """The server's process id, to check it stops using the CPU once training is stopped."""
    return streamlit_process[1]


BROWSER_WAIT_MS = 240_000  # what a browser test waits for one script run, a cold server's first included


def wait_idle(page: Any, timeout_ms: int = BROWSER_WAIT_MS) -> None:
    """Connected, and the script run that a load or a click started has finished. A fresh page's script state is
    `initial` until its first run starts; just after a click it can still read `notRunning`, hence the short pause
    (callers that must see the rerun's result also wait for what it draws)."""
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=timeout_ms)
    page.wait_for_timeout(300)
    page.wait_for_selector("[data-testid='stApp'][data-test-script-state='notRunning']", timeout=timeout_ms)


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    """Headless Debian chromium through Playwright's sync API; never downloads a browser."""
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed at /usr/bin/chromium (apt-get install chromium)")
    playwright_api = pytest.importorskip("playwright.sync_api", reason="playwright (python) is not installed")
    with playwright_api.sync_playwright() as p:
        instance = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = context.new_page()
    yield tab
    context.close()


@pytest.fixture(scope="session")
def screenshots() -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    return SCREENSHOTS
