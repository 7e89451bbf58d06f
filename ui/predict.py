"""Predict, then run: a lesson asks its question first and shows the measurement once the viewer commits.

Committing an answer before seeing the chart is what makes the chart surprising. Each answer
adds one to the lesson's tally, kept in this server's memory (a count per answer, nothing about
who gave it); the presenter sees the class's tally grow live and reveals the page without voting.
"""

from __future__ import annotations

import threading
from collections import Counter

import streamlit as st

from lab.lessons import Lesson
from ui import presenter

COMMITTED_KEY = "_predictions"  # session_state: {lesson name: the answer this viewer committed}
TALLY_SECONDS = 2.0  # how often the presenter's tally refreshes


class Tally:
    """Answers per lesson across every session of this server."""

    def __init__(self) -> None:
        self._counts: dict[str, Counter[str]] = {}
        self._lock = threading.Lock()

    def add(self, lesson: str, answer: str) -> None:
        with self._lock:
            self._counts.setdefault(lesson, Counter())[answer] += 1

    def counts(self, lesson: str) -> Counter[str]:
        with self._lock:
            return Counter(self._counts.get(lesson, Counter()))


@st.cache_resource
def tally() -> Tally:
    """The one tally of this server process."""
    return Tally()


def show_tally(lesson: Lesson) -> None:
    """The class's answers so far, refreshed every few seconds (presenter mode)."""

    @st.fragment(run_every=TALLY_SECONDS)
    def live() -> None:
        counts = tally().counts(lesson.name)
        total = sum(counts.values())
        st.markdown(f"**Class predictions: {total}**")
        for choice in lesson.choices:
            share = counts[choice] / total if total else 0.0
            st.progress(share, text=f"{choice}: {counts[choice]}")

    live()


def gate(lesson: Lesson) -> None:
    """Before the page runs: the question until this viewer commits (or the presenter reveals); then their answer."""
    if not lesson.question:
        return
    committed: dict[str, str] = st.session_state.setdefault(COMMITTED_KEY, {})
    presenting = presenter.is_presenting()
    with st.container(border=True):
        st.markdown(f"**:material/psychology_alt: Predict first:** {lesson.question}")
        if presenting:
            show_tally(lesson)
        if lesson.name in committed:
            if committed[lesson.name]:
                st.caption(f"Your prediction: {committed[lesson.name]}. The measurement is below.")
            return
        if presenting:
            if st.button("Reveal the measurement", icon=":material/visibility:", key="predict_reveal"):
                committed[lesson.name] = ""
                st.rerun()
        else:
            answer = st.radio("Your prediction", lesson.choices, index=None, key=f"predict_{lesson.name}")
            if st.button("Commit my prediction", type="primary", disabled=answer is None, key="predict_commit"):
                tally().add(lesson.name, str(answer))
                committed[lesson.name] = str(answer)
                st.rerun()
    st.stop()  # nothing measured is shown, or computed, before the prediction
