"""Presenter mode (`?present=1`): the lab on a classroom projector.

Controls collapse into the sidebar, text and chart labels grow, side-by-side charts stack to
full width, and the view's URL appears as text and as a QR code so students open the same
view on their own devices. The QR code is drawn here by segno, in memory: no network.

The QR code goes into the page itself (a data: URL), not through st.image: Streamlit serves an
st.image as a media file that a rerun unreferences and another session's finished run deletes,
so a browser fetching it just after a lesson link's switch_page (or on a busy server) got a 404
and a blank image for good, since the next run sends the same URL and the browser does not ask
again. Inline, the picture arrives with the page, whatever the timing.
"""

from __future__ import annotations

import base64
import io
import socket
from urllib.parse import urlencode, urlsplit, urlunsplit

import plotly.graph_objects as go
import segno
import streamlit as st

from lab.charts import FONT_SIZE
from lab.lessons import lesson_by_name

PARAM = "present"
LESSON_PARAM = "lesson"
TOGGLE_KEY = "_presenter_toggle"
QR_ALT = "QR code of this view's link"
QR_WIDTH = 260  # CSS pixels: scans from the back of a classroom
FONT_SCALE = 1.5  # chart text on a projector: 16 px -> 24 px
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")

# Larger text everywhere, and columns holding charts stacked so each chart gets the full width.
PRESENTER_CSS = """
<style>
.stApp, .stMarkdown p, .stMarkdown li, .stCaption p { font-size: 1.35rem !important; }
.stApp h1 { font-size: 3rem !important; }
.stApp h2, .stApp h3, .stApp h4 { font-size: 2.1rem !important; }
[data-testid="stHorizontalBlock"]:has([data-testid="stPlotlyChart"]) { flex-direction: column !important; }
[data-testid="stHorizontalBlock"]:has([data-testid="stPlotlyChart"]) > [data-testid="stColumn"] {
  width: 100% !important; flex: 1 1 100% !important; }
</style>
"""


def is_presenting() -> bool:
    """Whether the URL asks for presenter mode (?present=1 or true)."""
    return st.query_params.get(PARAM, "").strip().lower() in ("1", "true", "yes", "on")


def sidebar_state() -> str:
    """For st.set_page_config: a projector starts with the controls out of the way."""
    return "collapsed" if is_presenting() else "expanded"


def _on_toggle() -> None:
    if st.session_state[TOGGLE_KEY]:
        st.query_params[PARAM] = "1"
    else:
        del st.query_params[PARAM]


def presenter_toggle() -> None:
    """The sidebar switch; it writes ?present=1 so the mode is part of the link like every other control."""
    st.session_state[TOGGLE_KEY] = is_presenting()
    with st.sidebar:
        st.toggle(
            "Presenter mode",
            key=TOGGLE_KEY,
            on_change=_on_toggle,
            help="For a projector: large text, full-width charts, controls folded away, a QR code of this view.",
        )


def scale_figure(fig: go.Figure) -> go.Figure:
    """A copy with larger text when presenting (the cached original is left alone); else the figure itself."""
    if not is_presenting():
        return fig
    size = round(FONT_SIZE * FONT_SCALE)
    bigger = go.Figure(fig)
    bigger.update_layout(font={"size": size}, title_font_size=round(size * 1.2), legend_font_size=size)
    return bigger


def lesson_shortcut(params: dict[str, list[str]]) -> dict[str, list[str]]:
    """Just ?lesson=<name> when the URL holds exactly that lesson's settings: a short link makes a QR code easy to scan."""
    names = params.get(LESSON_PARAM, [])
    try:
        lesson = lesson_by_name(names[0]) if names else None
    except ValueError:
        return params
    if lesson is None:
        return params
    own = {k: list(v) if isinstance(v, tuple) else [v] for k, v in lesson.page_params().items()}
    return {LESSON_PARAM: names[:1]} if {k: v for k, v in params.items() if k != PARAM} == own else params


def view_url(base: str | None, params: dict[str, list[str]]) -> str:
    """The address of this view for students: every parameter (repeated keys kept) but presenter mode."""
    query = urlencode([(k, v) for k, values in lesson_shortcut(params).items() if k != PARAM for v in values])
    if not base:
        return f"?{query}" if query else "?"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))


def qr_png(text: str, scale: int = 8) -> bytes:
    """The QR code of `text` as PNG bytes (error correction M: still scans from the back of a room)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()


def qr_html(text: str) -> str:
    """The QR code of `text` as an <img> holding its PNG: nothing for the browser to fetch, nothing to expire."""
    data = base64.b64encode(qr_png(text)).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{QR_ALT}" width="{QR_WIDTH}">'


def network_address() -> str | None:
    """This machine's LAN address (no packet is sent: a UDP socket only picks a route), or None offline."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 1))
            return probe.getsockname()[0]
    except OSError:
        return None


def share_panel() -> None:
    """The view's URL as text and QR code, with a hint when the address is only reachable from this laptop."""
    url = view_url(st.context.url, {key: st.query_params.get_all(key) for key in st.query_params})
    with st.expander(":material/qr_code_2: Open this view on your own device", expanded=True):
        code_col, text_col = st.columns([1, 3], vertical_alignment="center")
        try:
            code_col.html(qr_html(url))
            code_col.caption("Scan to open this view")
        except segno.DataOverflowError:  # a link with thousands of characters (a pasted or hostile URL) fits no QR code
            code_col.info("This link is too long for a QR code: share the text instead.", icon=":material/qr_code_2:")
        text_col.code(url, language=None, wrap_lines=True)
        host = urlsplit(url).hostname
        if host in LOCAL_HOSTS:
            address = network_address()
            where = f"http://{address}:{urlsplit(url).port or 8501}" if address else "this computer's network address"
            text_col.warning(
                f"This address only works on this computer. Students on the same network can open {where} "
                "(start the lab with --server.address 0.0.0.0; see docs/DEPLOY.md).",
                icon=":material/wifi:",
            )


def apply() -> None:
    """Call once per run before the page: the toggle always; styles and the share panel when presenting."""
    presenter_toggle()
    if is_presenting():
        st.html(PRESENTER_CSS)
        share_panel()
