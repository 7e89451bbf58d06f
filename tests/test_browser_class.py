"""The classroom in a real browser: the QR code's target, follow-the-teacher, replay and predict-then-run.

One server for all (conftest's session server), small nets only: these add well under two
minutes to the browser suite on two busy cores.
"""

from __future__ import annotations

import base64
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from conftest import wait_idle
from test_browser import TIMEOUT_MS, TINY

from lab.lessons import lesson_by_name
from ui.presenter import qr_png

pytestmark = pytest.mark.browser
VIEW = {"arch": "mlp", "dataset": "moons", "depth": "6", "width": "4", "n_samples": "200"}


def corner_url(page: Any) -> str:
    page.wait_for_selector(".lab-qr img", timeout=TIMEOUT_MS)
    return page.locator(".lab-qr").get_attribute("data-url")


def settings(url: str) -> dict[str, str]:
    """A view's settings from its URL: everything but presenter mode and the follow code."""
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items() if k not in ("present", "follow")}


AT_VIEW = """want => {
    const got = Object.fromEntries(new URLSearchParams(location.search));
    delete got.present; delete got.follow;
    return JSON.stringify(Object.entries(got).sort()) === JSON.stringify(Object.entries(want).sort());
}"""


def test_qr_code_carries_the_full_view_and_students_follow_the_teacher(page: Any, app_server: str, browser: Any) -> None:
    page.goto(f"{app_server}/gradient-flow?depth=6&width=4&arch=mlp&dataset=moons&n_samples=200&present=1")
    wait_idle(page)
    assert page.get_by_text("Page not found").count() == 0  # the landing page's own path works
    url = corner_url(page)
    query = parse_qs(urlsplit(url).query)
    code = query.pop("follow")[0]
    assert {k: v[0] for k, v in query.items()} == VIEW  # every setting, not presenter mode
    png = page.locator(".lab-qr img").get_attribute("src").split("base64,")[1]
    assert base64.b64decode(png) == qr_png(url)  # the code scans to exactly the printed link
    student = browser.new_context(viewport={"width": 390, "height": 844}).new_page()
    student.goto(url)  # a server on 127.0.0.1 keeps its address (the corner says students can't reach it)
    wait_idle(student)
    student.get_by_text(f"Following the teacher (code {code})").wait_for(timeout=TIMEOUT_MS)
    key = parse_qs(urlsplit(page.url).query)["follow"][0]  # code.secret: the presenter's own
    assert key.startswith(code + ".")
    page.goto(f"{app_server}/?depth=8&width=4&arch=mlp&dataset=moons&n_samples=200&present=1&follow={key}")  # the teacher moves
    moved = settings(corner_url(page))  # the view the teacher published, as its corner links it
    assert moved == VIEW | {"depth": "8"}
    # Conditions, never a pause: the student's tab has loaded exactly that view, its poll has run there, and it is idle.
    student.wait_for_function(AT_VIEW, arg=moved, timeout=TIMEOUT_MS)
    student.get_by_text(f"Following the teacher (code {code})").wait_for(timeout=TIMEOUT_MS)
    wait_idle(student)
    assert settings(student.url) == moved
    assert student.locator("[data-testid='stException']").count() == 0
    student.context.close()


def replay_title_has(text: str) -> str:
    """A wait_for_function body: the replay chart's title (the frame shown) contains `text`."""
    return f"[...document.querySelectorAll('.js-plotly-plot')].some(d => d.layout.title.text.includes({text!r}))"


def test_a_trained_run_replays_in_the_browser_without_rerunning_the_script(page: Any, app_server: str) -> None:
    sent: list[str] = []  # what the browser tells the server: a rerun would be a message here
    page.on("websocket", lambda socket: socket.on("framesent", lambda payload: sent.append(str(payload)[:40])))
    page.goto(f"{app_server}/?{'&'.join(f'{k}={v}' for k, v in (TINY | {'measure_every': '2'}).items())}")
    wait_idle(page)
    page.get_by_role("button", name="Train both nets").click()
    page.get_by_text("Replay speed").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    chart = page.locator(".js-plotly-plot").filter(has_text="Gradients before")
    assert "Gradients before update 30 of 30<br>" in chart.evaluate("d => d.layout.title.text")
    page.get_by_text("⟲ Reset", exact=True).click()
    page.wait_for_function(
        "[...document.querySelectorAll('.js-plotly-plot')].some(d => d.layout.title.text.includes('Gradients before update 1 of'))",
        timeout=TIMEOUT_MS,
    )
    page.get_by_text("▶ Play", exact=True).click()
    page.wait_for_function(replay_title_has("Gradients before update 30 of"), timeout=TIMEOUT_MS)
    before = len(sent)
    # single steps over the recorded steps 0, 2, ..., 28, 29: each button points at the frame beside the one shown
    for button, update in (("◀ Step", 29), ("◀ Step", 27), ("Step ▶", 29), ("Step ▶", 30), ("⟲ Reset", 1), ("Step ▶", 3)):
        page.get_by_text(button, exact=True).click()
        page.wait_for_function(replay_title_has(f"Gradients before update {update} of 30<br>"), timeout=10_000)
    assert len(sent) == before, f"stepping sent {sent[before:]} to the server"
    assert page.locator("[data-testid='stApp']").get_attribute("data-test-script-state") == "notRunning"


def test_a_pinned_run_and_the_next_share_their_axes_side_by_side(page: Any, app_server: str, screenshots: Path) -> None:
    page.goto(f"{app_server}/?{urlencode(TINY)}")
    wait_idle(page)
    page.get_by_role("button", name="Train both nets").click()
    page.get_by_role("button", name="Pin this run").click()
    page.wait_for_function("location.search.includes('pin=')", timeout=TIMEOUT_MS)
    wait_idle(page)
    query = parse_qs(urlsplit(page.url).query) | {"depth": ["8"]}  # the teacher changes one setting; the pin stays
    page.goto(f"{app_server}/?{urlencode(query, doseq=True)}")
    wait_idle(page)
    page.get_by_role("button", name="Train both nets").click()
    page.get_by_text("Side by side: the pinned run and this one").wait_for(timeout=TIMEOUT_MS)
    wait_idle(page)
    page.screenshot(path=str(screenshots / "pinned_side_by_side.png"), full_page=True)
    ranges = page.evaluate("""() => [...document.querySelectorAll('.js-plotly-plot')]
        .filter(d => (d.layout.title.text || '').includes('Training loss')).map(d => d._fullLayout.yaxis.range)""")
    titles = page.evaluate("() => [...document.querySelectorAll('.js-plotly-plot')].map(d => d.layout.title.text)")
    assert len(ranges) == 3 and ranges[0] == ranges[1], titles  # pinned and current on one axis; the run's own below


def test_students_predict_before_the_measurement_and_the_teacher_sees_the_tally(page: Any, app_server: str, browser: Any) -> None:
    lesson = lesson_by_name("batchnorm-explosion")
    page.goto(f"{app_server}/?lesson={lesson.name}")
    wait_idle(page)
    page.get_by_text(lesson.question).wait_for(timeout=TIMEOUT_MS)
    assert page.locator(".js-plotly-plot").count() == 0
    page.get_by_text(lesson.choices[2]).click()
    page.get_by_role("button", name="Commit my prediction").click()
    page.wait_for_selector(".js-plotly-plot", timeout=TIMEOUT_MS)
    teacher = browser.new_context(viewport={"width": 1280, "height": 720}).new_page()
    teacher.goto(f"{app_server}/?lesson={lesson.name}&present=1")
    teacher.get_by_text(f"{lesson.choices[2]}: 1").wait_for(timeout=TIMEOUT_MS)
    assert teacher.locator(".js-plotly-plot").count() == 0  # the teacher reveals when the class is ready
    teacher.context.close()
