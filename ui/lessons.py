"""Lessons in the app: `?lesson=<name>` opens the lesson's page with its settings and a story panel.

The short link carries only the lesson's name, so the lesson's settings can be tuned later
without breaking printed handouts. Opening it switches once to the lesson's page with the
settings in the URL (from then on the URL is the state, as everywhere in the lab, and a
student changing a control keeps their change). A lesson that trains starts training on
open unless its result is already in the shared cache, in which case it is drawn at once.
"""

from __future__ import annotations

from collections.abc import Callable

import streamlit as st

from lab import pages
from lab.lessons import LESSON_PARAM, LESSONS, Lesson, lesson_by_name
from resnet_core.config import FIELDS, ExperimentConfig, parse_value
from ui import presenter
from ui.echo import echo

NOT_SETTINGS = (
    LESSON_PARAM,
    presenter.PARAM,
    presenter.FOLLOW_PARAM,
    "embed",
    "embed_options",
)  # any other URL key is a page setting
OPENED_KEY = "_lesson_opened"  # session_state: the lesson whose settings were applied in this session
AUTOSTARTED_KEY = "_lesson_autostarted"  # session_state: lessons whose training was started on open


def current_lesson(*, warn: bool = True) -> Lesson | None:
    """The lesson named in the URL, or None; a mistyped name gets (once, from app.py) a warning listing the real ones."""
    name = st.query_params.get(LESSON_PARAM)
    if not name:
        return None
    try:
        return lesson_by_name(name)
    except ValueError:
        if warn:
            st.warning(
                f"This link names no lesson here: {echo(name)} is not one of {', '.join(known.name for known in LESSONS)}. "
                "Pick one on the Lessons page.",
                icon=":material/warning:",
            )
        return None


def open_from_url() -> Lesson | None:
    """Call before the page runs. A bare ?lesson= link switches once to its page and settings; returns the lesson.

    A URL that already carries settings (a shared view of a lesson, a student's own changes) is kept as it is.
    """
    lesson = current_lesson()
    if lesson is None:
        return None
    has_settings = any(key not in NOT_SETTINGS for key in st.query_params)
    if st.session_state.get(OPENED_KEY) != lesson.name and not has_settings:
        st.session_state[OPENED_KEY] = lesson.name
        extra = {presenter.PARAM: "1"} if presenter.is_presenting() else {}
        st.switch_page(lesson.page, query_params=lesson.page_params() | extra)
    return lesson


def story_panel(lesson: Lesson) -> None:
    """What to look for, then what to try: above the page's own charts (folded on a projector: the teacher tells it)."""
    with st.expander(f":material/school: Lesson: {lesson.title}", expanded=not presenter.is_presenting()):
        st.markdown(lesson.story)
        st.markdown(f"**Now try:** {lesson.now_try}")
        position = [known.name for known in LESSONS].index(lesson.name)
        st.page_link(pages.LESSONS.file, label="All lessons", icon=":material/list:")
        if position + 1 < len(LESSONS):
            following = LESSONS[position + 1]
            st.page_link(
                following.page,
                label="Next lesson",
                icon=":material/arrow_forward:",
                query_params=following.page_params() | _presenter_param(),
            )
            st.caption(following.title)  # a link's label stays on one line: a long title would be cut on a phone


def _presenter_param() -> dict[str, str]:
    return {presenter.PARAM: "1"} if presenter.is_presenting() else {}


def should_autostart(run: str, config: ExperimentConfig | None, is_cached: Callable[[], bool]) -> bool:
    """True once per session when the open lesson trains `run`, its settings are unchanged and nothing is cached yet.

    `run` names the page's runner ("train" on Gradient Flow, a science runner's key); `config`,
    when given, must still hold the lesson's settings (None: the page checked nothing).
    """
    lesson = current_lesson(warn=False)
    if lesson is None or lesson.train != run:
        return False
    started: set[str] = st.session_state.setdefault(AUTOSTARTED_KEY, set())
    if lesson.name in started or (config is not None and not matches(lesson, config)) or is_cached():
        return False
    started.add(lesson.name)
    return True


def matches(lesson: Lesson, config: ExperimentConfig) -> bool:
    """Whether `config` still has every setting the lesson sets (the student has not changed one yet)."""
    return all(parse_value(k, v) == getattr(config, k) for k, v in lesson.params.items() if k in FIELDS and isinstance(v, str))
