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
    "read back at once if anyone on this server measured it before."
)
presenting = presenter.is_presenting()
for number, lesson in enumerate(LESSONS, start=1):
    with st.container(border=True):
        st.markdown(f"### {number}. {lesson.title}")
        st.markdown(lesson.story)
        open_col, link_col = st.columns([1, 2], vertical_alignment="center")
        open_col.page_link(
            lesson.page,
            label="Open this lesson",
            icon=":material/play_arrow:",
            query_params=lesson.page_params() | ({presenter.PARAM: "1"} if presenting else {}),
        )
        link_col.code(lesson.link(), language=None)
        st.caption(
            f"Page: {page_by_file(lesson.page).url_path}"
            + (" · trains on open unless already computed on this server" if lesson.train else "")
        )
st.caption(
    "A short link works on any address the lab is served from: append it to the lab's URL, "
    "e.g. http://<this computer>:8501/" + LESSONS[0].link() + "."
)
