"""ResNet Gradient Flow Lab: `streamlit run app.py`.

The entry point only frames the pages: page config, navigation, the sidebar header every page
shares, presenter mode and its follow channel, lessons. Each page in `views/` wires URL-bound
widgets (ui/) to the engine (resnet_core/).
"""

from __future__ import annotations

import streamlit as st

from lab.pages import PAGES, page_by_url_path
from lab.style import COLORS
from serving import cache
from ui import follow, lessons, predict, presenter, prewarm
from ui.phone import PHONE_CSS

TITLE = "ResNet Gradient Flow Lab"
ICON = ":material/science:"  # Material icons ship with Streamlit: they render offline, without emoji fonts
FAVICON = (
    "🧪"  # not a Material icon: Streamlit fetches a Material favicon from fonts.gstatic.com; an emoji becomes a local data: SVG
)
TAGLINE = (
    "A plain network and a residual network of the same depth, side by side: "
    "how gradients flow through each at initialisation and while training."
)


def landing_alias() -> None:
    """/gradient-flow, the landing page's own name in lessons and links: the root page, settings kept."""
    st.switch_page(PAGES[0].file, query_params={key: st.query_params.get_all(key) for key in st.query_params})


# The one page list lives in lab/pages.py; the first page is the landing page, served at the root. Streamlit
# reserves the default page's path without serving it, so that path is a hidden page that redirects to the root.
NAVIGATION: dict[str, list[st.Page]] = {}
for page in PAGES:
    landing = page is PAGES[0]
    NAVIGATION.setdefault(page.section, []).append(
        st.Page(page.file, title=page.title, icon=page.icon, url_path="landing" if landing else page.url_path, default=landing)
    )
NAVIGATION[PAGES[0].section].append(st.Page(landing_alias, title=PAGES[0].title, url_path=PAGES[0].url_path, visibility="hidden"))


@st.cache_resource
def lessons_in_background() -> object:
    """RESNET_LAB_PREWARM=1: every lesson computed into the shared cache once the server starts (ui/prewarm.py)."""
    return prewarm.start_in_background()


def sidebar_header() -> None:
    """The same few lines above every page's controls: what the lab is and how to read its colours."""
    with st.sidebar:
        st.markdown(f"### {ICON} {TITLE}")
        st.caption(TAGLINE)
        st.markdown(
            f"<span style='color:{COLORS['plain']}'>**━━ plain**</span> (no shortcuts) · "
            f"<span style='color:{COLORS['residual']}'>**━━ residual**</span> (with shortcuts)",
            unsafe_allow_html=True,
        )


st.set_page_config(page_title=TITLE, page_icon=FAVICON, layout="wide", initial_sidebar_state=presenter.sidebar_state())
st.html(PHONE_CSS)
# Pages in the top bar: the sidebar keeps the experiment's controls above the fold on a projector.
navigation = st.navigation(NAVIGATION, position="top")
lessons_in_background()
sidebar_header()
if cache_problem := cache.default_cache().warning:  # a read-only or full cache: results still come, but are not kept
    st.sidebar.warning(cache_problem, icon=":material/storage:")
follow_code = follow.run(page_by_url_path(navigation.url_path))  # presenter: publish this view; student: follow it
presenter.apply(follow_code)  # ?present=1: projector styles and the view's QR code in a corner
lesson = lessons.open_from_url()  # ?lesson=<name>: switches once to the lesson's page and settings
if lesson is not None:
    lessons.story_panel(lesson)
    predict.gate(lesson)  # a lesson with a question: the page runs once the viewer has committed a prediction
navigation.run()
