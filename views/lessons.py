"""Lessons: every classroom story of the lab, each one click away and one short link to hand out."""

from __future__ import annotations

import streamlit as st

from lab.lessons import LESSONS
from lab.pages import page_by_file
from ui import presenter

st.title("Lessons")
st.markdown(
    "Each lesson opens a page with the settings that show one fact about deep networks, a short story of what "
    "to look for, and a next step to try. Every number on those pages is measured when the lesson opens, or "
    "read back at once if anyone on this server measured it before (`python -m ui.prewarm` computes them all "
    "before class)."
)
presenting = presenter.is_presenting()
# The lab's root as students reach it: this page's address without its own path segment.
root = (st.context.url or "").rsplit("/", 1)[0] + "/"
for number, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.markdown(f"### {number}. {lesson.title}")
        st.markdown(lesson.story)
        st.page_link(
            lesson.page,
            label="Open this lesson",
            icon=":material/play_arrow:",
            query_params=lesson.page_params() | ({presenter.PARAM: "1"} if presenting else {}),
        )
        link, note = presenter.reachable(root + lesson.link())
        st.markdown(f"Link for students: [{link}]({link})")
        st.caption(
            f"Opens {page_by_file(lesson.page).title}"
            + (" · trains on open unless already computed on this server" if lesson.train else "")
            + (" · asks for a prediction first" if lesson.question else "")
            + (f" · {note}" if note else "")
        )
