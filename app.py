"""ResNet Gradient Flow Lab: `streamlit run app.py`.

The entry point only frames the pages: page config, navigation, the sidebar header every page
shares. Each page in `pages/` wires URL-bound widgets (ui/) to the engine (resnet_core/).
"""

from __future__ import annotations

import streamlit as st

from resnet_core.charts import COLORS
from ui import lessons, presenter

TITLE = "ResNet Gradient Flow Lab"
ICON = ":material/science:"  # Material icons ship with Streamlit: they render offline, without emoji fonts
FAVICON = "🧪"  # not a Material icon: Streamlit fetches a Material favicon from fonts.gstatic.com; an emoji becomes a local data: SVG
TAGLINE = ("A plain network and a residual network of the same depth, side by side: "
           "how gradients flow through each at initialisation and while training.")

# The one page list. Add a page by appending an st.Page to a section; the first page is the landing page.
PAGES: dict[str, list[st.Page]] = {
    "Explore": [
        st.Page("pages/gradient_flow.py", title="Gradient flow", icon=":material/show_chart:", url_path="gradient-flow", default=True),
    ],
    "Science": [
        st.Page("pages/degradation.py", title="Degradation", icon=":material/trending_up:", url_path="degradation"),
        st.Page("pages/identity.py", title="Identity & L2", icon=":material/equal:", url_path="identity"),
        st.Page("pages/shortcuts.py", title="Shortcuts & dimensions", icon=":material/alt_route:", url_path="shortcuts"),
        st.Page("pages/theory.py", title="Theory", icon=":material/functions:", url_path="theory"),
    ],
    "Classroom": [
        st.Page("pages/lessons.py", title="Lessons", icon=":material/school:", url_path="lessons"),
    ],
}


def sidebar_header() -> None:
    """The same few lines above every page's controls: what the lab is and how to read its colours."""
    with st.sidebar:
        st.markdown(f"### {ICON} {TITLE}")
        st.caption(TAGLINE)
        st.markdown(f"<span style='color:{COLORS['plain']}'>**━━ plain**</span> (no shortcuts) · "
                    f"<span style='color:{COLORS['residual']}'>**━━ residual**</span> (with shortcuts)", unsafe_allow_html=True)


st.set_page_config(page_title=TITLE, page_icon=FAVICON, layout="wide", initial_sidebar_state=presenter.sidebar_state())
# Pages in the top bar: the sidebar keeps the experiment's controls above the fold on a projector.
navigation = st.navigation({section: pages for section, pages in PAGES.items() if pages}, position="top")
sidebar_header()
presenter.apply()  # ?present=1: projector styles and the view's QR code
lesson = lessons.open_from_url()  # ?lesson=<name>: switches once to the lesson's page and settings
if lesson is not None:
    lessons.story_panel(lesson)
navigation.run()
