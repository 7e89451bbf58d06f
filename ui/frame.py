"""Make every page run inside app.py's frame, even on a fresh server's first request.

Streamlit treats a folder named `pages/` beside the main script as its legacy multipage
layout until the first `st.navigation` call of the process: on a fresh server, a deep link
such as /theory would run pages/theory.py alone, without app.py's page config, sidebar,
presenter mode or lesson handling. A page that finds the legacy flag still set knows it
runs without app.py (app.py's `st.navigation` clears the flag before any page runs), so
`ensure_app_frame()` runs app.py in its place, in the same script run (a rerun would drop
the click that started this run), and stops the page's own run.
(streamlit is pinned; tests/test_browser.py opens deep links on a fresh server to check this.)
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st
from streamlit.runtime.pages_manager import PagesManager

APP = Path(__file__).resolve().parent.parent / "app.py"


def ensure_app_frame() -> None:
    """Call first in every page: a page run without app.py becomes a run of app.py (which runs this page)."""
    if not PagesManager.uses_pages_directory:
        return
    PagesManager.uses_pages_directory = False  # what app.py's st.navigation call sets
    exec(compile(APP.read_text(), str(APP), "exec"), {"__name__": "__main__", "__file__": str(APP)})
    st.stop()
