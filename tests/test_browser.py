"""End to end in a real browser: `streamlit run app.py` driven through Debian chromium with Playwright.

Checks what AppTest can't: the charts actually render in the page, Train streams to completion,
Stop really stops the server's work, and a copied share link reproduces the view.
Screenshots land in artifacts/screenshots/ (git-ignored).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import pytest
from conftest import wait_idle

pytestmark = pytest.mark.browser

TIMEOUT_MS = 180_000
TINY = {"arch": "mlp", "dataset": "moons", "depth": "4", "width": "4", "steps": "30", "n_samples": "200", "eval_every": "10"}
LONG = {"arch": "mlp", "dataset": "moons", "depth": "20", "width": "8", "steps": "100000", "n_samples": "200"}


def trace_types(page: Any) -> list[list[str]]:
    """Plotly's own view of every rendered chart: the trace types of each."""
    return page.evaluate(
        "Array.from(document.querySelectorAll('.js-plotly-plot')).map(d => (d._fullData || []).map(t => t.type))"
    )


def layer_chart_y(page: Any) -> list[list[float]]:
    """The y values of the traces of the (first) per-layer gradient chart."""
    return page.evaluate("""() => {
        const plots = Array.from(document.querySelectorAll('.js-plotly-plot'));
        const chart = plots.find(d => (d.layout.title.text || '').includes('Weight-gradient norm per layer'));
        return chart.data.map(t => Array.from(t.y));
    }""")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (all its threads) from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_landing_page_renders_charts_without_errors(page: Any, app_server: str, screenshots: Path) -> None:
    page.goto(f"{app_server}/?depth=8&width=4")
    wait_idle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
    assert page.locator(".js-plotly-plot").count() >= 2
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.get_by_text("First / last layer gradient ratio at initialisation").count() == 1
    page.screenshot(path=str(screenshots / "landing.png"), full_page=True)


def test_train_streams_to_completion_with_curves_and_heatmaps(page: Any, app_server: str, screenshots: Path) -> None:
    page.goto(f"{app_server}/?{urlencode(TINY)}")
    wait_idle(page)
    page.get_by_role("button", name="Train both nets").click()
    page.get_by_text("done: 30 steps in").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    types = trace_types(page)
    assert sum("heatmap" in t for t in types) >= 2  # the layer x step heatmap and the decision boundary
    assert len(types) >= 8  # init layer + block, loss, error, heatmap, scrubbed layer + block, boundary
    with page.expect_download(timeout=TIMEOUT_MS) as download:  # written on click (a deferred download), not every rerun
        page.get_by_text("Download CSV (per-layer records)").last.click()  # the trained run's (the first: init)
    header = Path(download.value.path()).read_text().splitlines()[0]
    assert header == "variant,step,layer,name,kind,metric,value" and download.value.suggested_filename.endswith(".csv")
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(screenshots / "trained.png"), full_page=True)


def test_stop_ends_training_and_the_server_goes_idle(page: Any, app_server: str, app_server_pid: int, screenshots: Path) -> None:
    page.goto(f"{app_server}/?{urlencode(LONG)}")
    wait_idle(page)
    page.get_by_role("button", name="Train both nets").click()
    page.wait_for_function("document.body.innerText.match(/step [1-9]\\d* \\/ 100000/)", timeout=TIMEOUT_MS)
    page.get_by_role("button", name="Stop").click()
    page.get_by_text("Stopped at step").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    page.screenshot(path=str(screenshots / "stopped.png"), full_page=True)
    before = cpu_seconds(app_server_pid)
    time.sleep(3)
    used = cpu_seconds(app_server_pid) - before
    assert used < 1.0, f"the server used {used:.1f} CPU-seconds in 3 s after Stop: training is still running"


@pytest.mark.parametrize("width, height, present", [(390, 844, False), (1280, 720, True), (1280, 720, False), (1440, 900, False)])
def test_train_is_on_a_phones_and_a_projectors_first_screen_and_under_the_init_charts_on_a_desktop(
    browser: Any, app_server: str, width: int, height: int, present: bool
) -> None:
    """Issue 14: on a 390x844 phone Train was in the second screen (y 1544), under both stacked init charts, and in
    presenter mode at 1280x720 too (y 1423: presenter mode stacks the charts to full width)."""
    tab = browser.new_context(viewport={"width": width, "height": height}).new_page()
    tab.goto(f"{app_server}/?depth=8&width=4" + ("&present=1" if present else ""))
    wait_idle(tab)
    tab.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
    train = tab.get_by_role("button", name="Train both nets").first.bounding_box()
    chart = tab.locator("[data-testid='stPlotlyChart']").first.bounding_box()
    if width < 640 or present:  # Train under the page's reading, on the first screen; the charts follow
        assert train["y"] + train["height"] <= height and train["y"] < chart["y"]
    else:  # a desktop: the init charts first, Train right under them (the layout the phone rule leaves alone)
        assert train["y"] > chart["y"] + chart["height"]
    tab.context.close()


def test_share_link_reproduces_the_view(page: Any, app_server: str, browser: Any) -> None:
    page.goto(f"{app_server}/?depth=14&width=4&shortcut=C")
    wait_idle(page)
    page.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
    link = page.get_by_role("link", name="Share this view").get_attribute("href")
    assert "depth=14" in link and "shortcut=C" in link
    original = layer_chart_y(page)
    other = browser.new_context(viewport={"width": 1400, "height": 1000}).new_page()
    other.goto(link)
    wait_idle(other)
    other.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
    assert layer_chart_y(other) == original
    other.context.close()


def test_bad_url_value_shows_a_warning_in_the_page(page: Any, app_server: str) -> None:
    page.goto(f"{app_server}/?depth=abc&width=4")
    wait_idle(page)
    warning = page.locator("[data-testid='stAlert']").filter(has_text="URL parameter depth: abc is not a number")
    assert warning.count() == 1
    assert warning.locator("code").first.inner_text() == "abc"  # the visitor's text, shown as code, never as markup
    assert page.locator("[data-testid='stException']").count() == 0


@pytest.mark.parametrize("path", ["", "theory", "degradation"])
def test_deep_link_on_a_fresh_server_runs_inside_the_app_frame(page: Any, tmp_path: Path, path: str) -> None:
    """The first request of a new server process goes to a page URL: it must still get app.py's header and navigation."""
    from tests.conftest import serve_app

    with serve_app(tmp_path) as (url, _):
        page.goto(f"{url}/{path}?depth=8&width=4")
        wait_idle(page)
        page.wait_for_selector("text=ResNet Gradient Flow Lab", timeout=TIMEOUT_MS)
        assert page.get_by_text("Page not found").count() == 0
        assert page.locator("[data-testid='stException']").count() == 0
        assert page.locator("[data-testid^='stTopNav']").count() >= 1  # app.py's navigation, not the legacy sidebar list
