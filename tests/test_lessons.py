"""Lessons: the data is valid and true to its page, every ?lesson= link opens its page with its charts,
a training lesson trains on open and is read back from the shared cache the second time, and a
classroom asking for one result at once computes it once."""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

import lab.lessons
from lab.lessons import LESSONS, lesson_by_name
from lab.pages import PAGES, page_by_file
from resnet_core.config import FIELDS, ExperimentConfig
from resnet_core.results import RunLog
from resnet_core.training import train
from serving.cache import ResultCache
from ui.predict import COMMITTED_KEY, tally

TIMEOUT = 300  # generous: the machine is shared; no test asserts a time
BROWSER_MS = 300_000


@pytest.fixture(autouse=True)
def private_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Each test its own result cache, so 'computed before' means computed in this test."""
    monkeypatch.setenv("RESNET_LAB_CACHE_DIR", str(tmp_path / "cache"))
    return tmp_path / "cache"


def open_link(lesson_name: str, *, predicted: bool = True, **extra: str) -> AppTest:
    """The lesson's link; `predicted`: this viewer has got past the lesson's question (as the presenter's Reveal does)."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params["lesson"] = lesson_name
    if predicted:
        at.session_state[COMMITTED_KEY] = {lesson_name: ""}
    for key, value in extra.items():
        at.query_params[key] = value
    return at.run()


def test_at_least_six_distinct_lessons_with_short_names() -> None:
    assert len(LESSONS) >= 6
    names = [lesson.name for lesson in LESSONS]
    assert len(set(names)) == len(names)
    assert all(re.fullmatch(r"[a-z0-9]+(-[a-z0-9]+)*", n) for n in names)


@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_lesson_data_points_at_a_real_page_and_valid_settings(lesson) -> None:
    assert (ROOT / lesson.page).is_file()
    assert lesson.page in [p.file for p in PAGES]  # the link lands on a page app.py serves
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", lesson.story.replace("et al.", "et al")) if s]
    assert 2 <= len(sentences) <= 3, lesson.story
    assert lesson.title and lesson.now_try
    assert isinstance(lesson.config(), ExperimentConfig)  # the settings validate
    own_keys = page_by_file(lesson.page).url_keys  # check_url holds each page to these (tests/test_url_safety.py)
    for key in lesson.params:
        assert key in FIELDS or key in own_keys, f"{lesson.name}: the page reads no parameter {key!r}"
    assert lesson.link() == f"?lesson={lesson.name}"


@pytest.mark.parametrize(
    ("name", "claims"),
    [
        # seeds 40-44: plain 0.02 [-0.07 to 0.09], residual 0.31 [0.08-0.51], the page says "no clear difference"
        ("shattered-gradients", ("clearly more correlated",)),
        # CNN-20 seeds 3 and 7: no clear difference, and the residual basin the sharper
        ("loss-landscape", ("how much sharper", "how much less convex")),
    ],
)
def test_a_story_leaves_the_verdict_to_the_pages_measured_sentence(name: str, claims: tuple[str, ...]) -> None:
    """The page computes the verdict from the records and can find no clear difference, or the reverse, on another
    draw; the lesson's fixed text may quote the paper's finding but must not assert or presuppose the outcome."""
    story = lesson_by_name(name).story
    assert not [claim for claim in claims if claim in story], story
    assert "the sentence" in story  # it points at the measured one


def test_a_lessons_config_is_the_pages_defaults_with_the_lessons_settings() -> None:
    """What the page builds from the lesson's URL: the settings it names over the page's own defaults, which it keeps.

    A page's defaults may differ from the engine's (the Gradient Flow page trains fewer steps): a lesson that names no
    steps trains the page's, and its init request, keyed by every field, is what the prewarmed cache must hold."""
    lesson = lesson_by_name("batchnorm-explosion")
    page = page_by_file(lesson.page).defaults
    assert "steps" not in lesson.params and page.steps != ExperimentConfig().steps
    settings = {"arch": "cnn", "dataset": "digits", "depth": 56, "width": 8, "norm": "batch", "activation": "relu", "init": "he"}
    assert lesson.config() == page.replace(**settings)
    assert lesson.config().steps == page.steps


def test_unknown_lesson_names_the_real_ones() -> None:
    with pytest.raises(ValueError, match=LESSONS[0].name):
        lesson_by_name("no-such-lesson")
    at = open_link("no-such-lesson")
    assert not at.exception
    assert len([w for w in at.warning if "no lesson" in w.value]) == 1  # said once, not by every part that reads the URL


def story_shown(at: AppTest, title: str) -> bool:
    return any(e.label.endswith(f"Lesson: {title}") or f"Lesson: {title}" in e.label for e in at.expander)


def test_a_question_comes_before_the_measurement_and_the_answer_joins_the_tally() -> None:
    lesson = lesson_by_name("batchnorm-explosion")
    before = tally().counts(lesson.name)
    at = open_link(lesson.name, predicted=False)
    assert not at.exception, at.exception
    assert any(lesson.question in m.value for m in at.markdown)
    assert not at.get("plotly_chart")  # nothing measured is shown (or computed) before the prediction
    at.radio(key=f"predict_{lesson.name}").set_value(lesson.choices[2]).run()
    at.button(key="predict_commit").click().run()
    assert not at.exception, at.exception
    assert len(at.get("plotly_chart")) >= 1
    assert any(f"Your prediction: {lesson.choices[2]}" in c.value for c in at.caption)
    assert tally().counts(lesson.name) - before == {lesson.choices[2]: 1}  # counted once, nothing else kept


def test_the_presenter_sees_the_tally_and_reveals_without_voting() -> None:
    lesson = lesson_by_name("batchnorm-explosion")
    tally().add(lesson.name, lesson.choices[0])
    at = open_link(lesson.name, predicted=False, present="1")
    assert not at.exception, at.exception
    assert not at.get("plotly_chart")
    shown = " ".join(p.proto.text for p in at.get("progress"))
    assert f"{lesson.choices[0]}: {tally().counts(lesson.name)[lesson.choices[0]]}" in shown
    before = tally().counts(lesson.name)
    at.button(key="predict_reveal").click().run()
    assert len(at.get("plotly_chart")) >= 1 and tally().counts(lesson.name) == before


@pytest.mark.parametrize("lesson", [lesson for lesson in LESSONS if not lesson.train], ids=lambda lesson: lesson.name)
def test_each_lesson_link_opens_its_page_with_settings_story_and_charts(lesson) -> None:
    at = open_link(lesson.name)
    assert not at.exception, at.exception
    for key, value in lesson.params.items():  # the settings are in the URL, so the view can be shared as it is
        assert at.query_params.get(key) in ([value], value) or key not in at.query_params, key
    assert story_shown(at, lesson.title)
    assert len(at.get("plotly_chart")) >= 1
    assert not at.error and not at.warning  # every setting is one the page's controls can hold
    assert not at.code  # st.code: every visitor would download and run a 1.56 MB code highlighter before the charts


def test_a_shared_view_of_a_lesson_keeps_its_changed_settings() -> None:
    """A student scanning the teacher's QR code after the teacher changed depth sees that depth, with the story."""
    at = open_link("batchnorm-explosion", depth="20", arch="cnn")
    assert not at.exception, at.exception
    assert at.query_params.get("depth") in ("20", ["20"])
    assert any(s.label.startswith("Depth") and s.value == "20" for s in at.selectbox)
    assert story_shown(at, "")


def test_any_page_setting_in_the_url_marks_a_shared_view_not_a_fresh_lesson() -> None:
    """Science pages keep settings outside ExperimentConfig (alpha, depths): those too stop the lesson overriding the URL."""
    at = open_link("vanishing-sigmoid", alpha="1.0")
    assert not at.exception, at.exception
    assert "arch" not in at.query_params  # the lesson's settings were not forced over the shared URL
    assert story_shown(at, "")


def test_thousand_layer_lesson_really_trains_and_its_plain_twin_does_not() -> None:
    """The lesson's claim, on its own settings (first 20 of its steps: the error is already far below chance)."""
    config = lesson_by_name("thousand-layers").config()
    assert (config.arch, config.depth, config.norm) == ("mlp", 1000, "none")
    first_steps = config.replace(steps=20, measure_every=20, eval_every=20)
    log = RunLog(first_steps).extend(train(first_steps))
    assert log.final["residual"]["train_error"] < 0.3 and not log.final["residual"]["diverged"]
    assert log.final["plain"]["train_error"] >= 0.45  # two balanced classes: chance is 0.5


@pytest.mark.parametrize("lesson", [lesson for lesson in LESSONS if lesson.train], ids=lambda lesson: lesson.name)
def test_training_lesson_trains_on_open_then_comes_from_the_cache(lesson, monkeypatch: pytest.MonkeyPatch) -> None:
    """The mechanism, on each training lesson shortened to a few steps (full runs: the test above and docs/DEPLOY.md)."""
    short = dataclasses.replace(lesson, params=dict(lesson.params) | {"steps": "4", "measure_every": "2", "eval_every": "2"})
    monkeypatch.setitem(lab.lessons._BY_NAME, lesson.name, short)
    stored: list[str] = []  # a result is only written after computing it
    real_put = ResultCache.put
    monkeypatch.setattr(
        ResultCache, "put", lambda self, kind, config, payload: (stored.append(kind), real_put(self, kind, config, payload))[1]
    )
    first = open_link(lesson.name)
    assert not first.exception, first.exception
    assert not first.error, [e.value for e in first.error]
    assert story_shown(first, lesson.title)
    assert len(first.get("plotly_chart")) >= 1
    assert not first.code  # st.code: every visitor would download and run a 1.56 MB code highlighter before the charts
    trained = [kind for kind in stored if kind != "init"]
    assert trained  # it trained on open, without a click, and stored the result

    second = open_link(lesson.name)  # another device opening the same link later
    assert not second.exception, second.exception
    assert len(second.get("plotly_chart")) >= len(first.get("plotly_chart"))
    assert [kind for kind in stored if kind != "init"] == trained  # drawn from the shared cache: nothing trained again


@pytest.mark.browser
@pytest.mark.parametrize("lesson", LESSONS, ids=lambda lesson: lesson.name)
def test_lesson_link_in_a_real_browser_shows_story_and_charts_offline(lesson, page, app_server: str, screenshots: Path) -> None:
    """The short link as a student types it: the page, its story and its charts render, and nothing leaves this machine."""
    outside: list[str] = []
    page.on("request", lambda request: outside.append(request.url) if not request.url.startswith(app_server) else None)
    page.goto(f"{app_server}/{lesson.link(present=True)}")
    page.wait_for_selector("[data-testid='stApp'][data-test-connection-state='CONNECTED']", timeout=BROWSER_MS)
    page.get_by_text(f"Lesson: {lesson.title}").wait_for(timeout=BROWSER_MS)
    if lesson.question:  # the presenter reveals the measurement once the class has predicted
        page.get_by_role("button", name="Reveal the measurement").click()
    page.wait_for_selector(".js-plotly-plot", timeout=BROWSER_MS)
    page.wait_for_selector(".lab-qr img", timeout=BROWSER_MS)  # the presenter QR code
    assert f"lesson={lesson.name}" in page.url
    assert page.locator("[data-testid='stException']").count() == 0
    page.screenshot(path=str(screenshots / f"lesson_{lesson.name}.png"), full_page=True)
    assert [url for url in outside if not url.startswith(("data:", "blob:"))] == []


def test_the_lessons_page_gives_every_lesson_a_full_link_without_a_code_block() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("views/lessons.py").run()
    assert not at.exception, at.exception
    links = [m.value for m in at.markdown if m.value.startswith("Link for students:")]
    assert len(links) == len(LESSONS) and all(
        f"?lesson={lesson.name}" in link for lesson, link in zip(LESSONS, links, strict=True)
    )
    assert not at.code  # st.code would make every visitor download a code highlighter
    assert not any("8501" in m.value for m in at.markdown)  # no guessed port
