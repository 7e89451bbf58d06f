"""Presenter mode (`?present=1`): the lab on a classroom projector.

Controls collapse into the sidebar, text and every chart label grow (set on each axis, where
Streamlit's chart theme would otherwise keep its own small tick font), the chart toolbar goes,
side-by-side charts stack to full width, and a corner of the screen shows the view's address
as a QR code and as text. That address is one students can open: the host's public URL when
one is configured (RESNET_LAB_PUBLIC_URL), else this laptop's network address when the teacher
browses on localhost, never localhost itself; it carries the whole view (page, settings,
lesson) and the teacher's follow code (ui/follow.py). The QR code is drawn here by segno, in
memory: no network.
"""

from __future__ import annotations

import base64
import html
import io
import socket
from urllib.parse import urlencode, urlsplit, urlunsplit

import plotly.graph_objects as go
import segno
import streamlit as st

from lab.axes import for_screen
from lab.lessons import LESSON_PARAM, PRESENT_PARAM, lesson_by_name
from lab.style import FONT_SIZE
from serving.settings import PREFIX, host_settings
from ui.phone import ACTION_FIRST

PARAM = PRESENT_PARAM
FOLLOW_PARAM = "follow"
TOGGLE_KEY = "_presenter_toggle"
PUBLIC_URL = PREFIX + "PUBLIC_URL"  # the lab's address as students reach it, e.g. https://lab.school.example
FONT_SCALE = 1.5  # chart text on a projector: 16 px -> 24 px
LOCAL_HOSTS = ("localhost", "127.0.0.1", "::1", "0.0.0.0")

# Larger text everywhere, charts stacked to full width, the page's action (Train) before the stacked charts it would
# otherwise follow (ui/phone.py), and the address in the bottom-right corner (hovering it doubles the code for a student
# at the back who wants to scan it).
PRESENTER_CSS = (
    f"<style>{ACTION_FIRST}</style>"
    + """
<style>
.stApp, .stMarkdown p, .stMarkdown li, .stCaption p { font-size: 1.35rem !important; }
.stApp h1 { font-size: 2.4rem !important; padding-top: 0 !important; }
.stApp h2, .stApp h3, .stApp h4 { font-size: 1.9rem !important; }
[data-testid="stMainBlockContainer"] { padding-top: 3.5rem !important; padding-right: 170px !important; }
[data-testid="stHorizontalBlock"]:has([data-testid="stPlotlyChart"]) { flex-direction: column !important; }
[data-testid="stHorizontalBlock"]:has([data-testid="stPlotlyChart"]) > [data-testid="stColumn"] {
  width: 100% !important; flex: 1 1 100% !important; }
.lab-qr { position: fixed; right: 12px; bottom: 12px; z-index: 999990; width: 140px; padding: 5px;
  background: #fff; color: #000; border: 1px solid #888; border-radius: 6px; font-size: 12px; line-height: 1.25;
  transform-origin: bottom right; transition: transform 0.15s; overflow-wrap: anywhere; }
.lab-qr:hover { transform: scale(2.2); }
.lab-qr img { width: 128px; height: 128px; display: block; image-rendering: pixelated; }
.lab-qr a { color: #000; }
.lab-qr .lab-code { font-size: 15px; font-weight: 700; }
.lab-qr .lab-note { color: #8a1c00; }
</style>
"""
)


def is_presenting() -> bool:
    """Whether the URL asks for presenter mode (?present=1 or true)."""
    return st.query_params.get(PARAM, "").strip().lower() in ("1", "true", "yes", "on")


def sidebar_state() -> str:
    """For st.set_page_config: a projector (and a phone) starts with the controls out of the way."""
    return "collapsed" if is_presenting() else "auto"  # auto: open on a laptop, folded on a phone


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


def theme_type() -> str | None:
    """The viewer's theme ("light" / "dark") when presenting, the one other thing `screen_figure` reads; else None."""
    return st.context.theme.type if is_presenting() else None


def screen_figure(fig: go.Figure) -> go.Figure:
    """A copy for the screen: decade log ticks; when presenting, every text larger and black or white, not theme grey."""
    if not is_presenting():
        return for_screen(fig, FONT_SIZE)
    bigger = for_screen(fig, round(FONT_SIZE * FONT_SCALE))
    bigger.update_layout(font_color="#ffffff" if theme_type() == "dark" else "#000000")
    bigger.update_xaxes(tickfont_color=bigger.layout.font.color, title_font_color=bigger.layout.font.color)
    bigger.update_yaxes(tickfont_color=bigger.layout.font.color, title_font_color=bigger.layout.font.color)
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
    settings = {k: v for k, v in params.items() if k not in (PARAM, FOLLOW_PARAM)}
    follow = {FOLLOW_PARAM: params[FOLLOW_PARAM]} if FOLLOW_PARAM in params else {}
    return params if settings != own else {LESSON_PARAM: names[:1]} | follow


def view_url(base: str | None, params: dict[str, list[str]]) -> str:
    """The address of this view for students: every parameter (repeated keys kept) but presenter mode."""
    query = urlencode([(k, v) for k, values in lesson_shortcut(params).items() if k != PARAM for v in values])
    if not base:
        return f"?{query}" if query else "?"
    parts = urlsplit(base)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", query, ""))


def reachable_url(url: str, public: str, lan: str | None, open_to_lan: bool) -> tuple[str, str]:
    """(the address students can open, a note for the teacher or ""): the public URL, else the LAN address for localhost."""
    parts = urlsplit(url)
    if public:
        base = urlsplit(public if "//" in public else f"http://{public}")
        prefix = base.path.rstrip("/")
        path = parts.path if parts.path.startswith(prefix + "/") or not prefix else prefix + parts.path
        return urlunsplit((base.scheme, base.netloc, path, parts.query, "")), ""
    if parts.hostname not in LOCAL_HOSTS:
        return url, ""
    if not open_to_lan:
        return url, "Students can't reach this server: it listens on this computer only. Start it without --server.address."
    if lan is None:
        return url, "No network found: connect this computer to the class network, then reload."
    netloc = lan + (f":{parts.port}" if parts.port else "")
    return urlunsplit((parts.scheme, netloc, parts.path, parts.query, "")), ""


def qr_png(text: str, scale: int = 8) -> bytes:
    """The QR code of `text` as PNG bytes (error correction M: still scans from the back of a room)."""
    buffer = io.BytesIO()
    segno.make(text, error="m").save(buffer, kind="png", scale=scale, border=2)
    return buffer.getvalue()


def network_address() -> str | None:
    """This machine's LAN address (no packet is sent: a UDP socket only picks a route), or None offline."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            probe.connect(("10.254.254.254", 1))
            return probe.getsockname()[0]
    except OSError:
        return None


def student_url(follow_code: str) -> tuple[str, str]:
    """This view's address for students, with the teacher's follow code, and a note when they can't reach it."""
    params = {key: st.query_params.get_all(key) for key in st.query_params} | {FOLLOW_PARAM: [follow_code]}
    return reachable(view_url(st.context.url, params))


def reachable(url: str) -> tuple[str, str]:
    """`url` as other devices reach this server (reachable_url with this host's settings), and a note or ""."""
    address = (st.get_option("server.address") or "").strip()
    public = host_settings().get(PUBLIC_URL, "").strip()
    return reachable_url(url, public, network_address(), address not in ("localhost", "127.0.0.1", "::1"))


def corner_html(url: str, note: str, follow_code: str, png: bytes | None) -> str:
    """The corner box: QR code (None: the link fits no code), the link as text, the follow code; all escaped."""
    text = html.escape(url)
    code = f'<img src="data:image/png;base64,{base64.b64encode(png).decode()}" alt="QR code of this view">' if png else ""
    warning = f"<div class='lab-note'>{html.escape(note)}</div>" if note else ""
    return (
        f"<div class='lab-qr' data-url='{text}'>{code}<div class='lab-code'>Follow code {html.escape(follow_code)}</div>"
        f"<a href='{text}'>{text}</a>{warning}</div>"
    )


def apply(follow_code: str) -> None:
    """Call once per run before the page: the toggle always; styles and the corner address when presenting."""
    presenter_toggle()
    if is_presenting():
        url, note = student_url(follow_code)
        try:
            png = qr_png(url)
        except segno.DataOverflowError:  # a link with thousands of characters (a pasted or hostile URL) fits no QR code
            png = None
            st.info("This link is too long for a QR code: share the text instead.", icon=":material/qr_code_2:")
        st.html(PRESENTER_CSS + corner_html(url, note, follow_code, png))
