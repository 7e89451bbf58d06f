"""The science pages in a real browser: each opens from its URL, runs its experiment, draws charts, never a traceback.

Uses the shared fixtures of conftest.py (a live `streamlit run app.py`, Debian chromium) and
saves a screenshot of every page under artifacts/screenshots/. Settings are tiny so each
page trains in seconds even on a busy machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from conftest import BROWSER_WAIT_MS, wait_idle

TINY = "width=4&steps=6&eval_every=3&batch_size=32&measure_every=3"
PAGES = [  # url path + query, the button that runs its experiment (None: nothing to train), charts expected after it
    ("degradation", f"{TINY}&depths=8&depths=20", "Train all depths", 3),
    ("identity", f"{TINY}&depth=8&alpha=0.0&l2s=0&l2s=0.1", "Train from here", 2),
    ("shortcuts", f"{TINY}&depth=8", "Train all four", 4),
    ("landscape", f"{TINY}&depth=8&sg_depth=8&sg_seeds=1", "Train and slice", 4),
    ("lesion", f"{TINY}&depth=8", "Train, then delete", 3),
    ("theory", "", None, 0),
]


@pytest.mark.browser
@pytest.mark.parametrize(("path", "query", "button", "charts"), PAGES, ids=[p[0] for p in PAGES])
def test_science_page_runs_in_the_browser(
    app_server: str, page: Any, screenshots: Path, path: str, query: str, button: str | None, charts: int
) -> None:
    page.goto(f"{app_server}/{path}?{query}", timeout=BROWSER_WAIT_MS)
    wait_idle(page)
    if button is not None:
        page.get_by_role("button", name=button).first.click()
        wait_idle(page)
        page.locator("[data-testid='stPlotlyChart']").nth(charts - 1).wait_for(timeout=BROWSER_WAIT_MS)
    else:
        page.locator(".katex").first.wait_for(timeout=BROWSER_WAIT_MS)
        assert page.locator(".katex-display").count() >= 6  # every equation block rendered by KaTeX, offline
        assert page.get_by_role("link", name="arXiv:1512.03385").count() == 1
    page.screenshot(path=str(screenshots / f"science_{path}.png"), full_page=True)
    assert page.locator("[data-testid='stException']").count() == 0
    assert page.locator("[data-testid='stAlertContentError']").count() == 0
    assert page.locator("[data-testid='stPlotlyChart']").count() >= charts
