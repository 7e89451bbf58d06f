"""Follow the teacher: every student's device shows the presenter's current view as the teacher moves.

A presenter session has a short follow code, kept in its URL (?follow=K4TW) so a reload keeps
it. Every run of a page in presenter mode publishes that page and its settings to a channel in
this server's memory under the code (no name, no address, nothing on disk). A student's link
carries the same code without presenter mode: a fragment polls the channel every few seconds
and, when the teacher has moved since the student last followed, switches to the teacher's
view. Between two moves a student explores freely; the teacher's next move brings them back.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

import streamlit as st

from lab.pages import PageInfo
from ui import presenter

ALPHABET = "ACDEFHJKMNPRTWXY3479"  # no look-alikes (0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B): read off a projector
CODE_LENGTH = 4
POLL_SECONDS = 2.0  # a student's view catches up with the teacher within this, at one tiny fragment rerun each
MAX_CODES = 500  # classes on one server at once; the oldest code is forgotten first
CODE_KEY = "_follow_code"  # session_state: this presenter's code
SEEN_KEY = "_follow_seen"  # session_state: (code, version) of the teacher's view this student last followed
NOT_SETTINGS = (presenter.PARAM, presenter.FOLLOW_PARAM)

Params = tuple[tuple[str, tuple[str, ...]], ...]


@dataclass(frozen=True)
class View:
    """Where the teacher is: a page's script and its URL settings; `version` grows with every move."""

    page: str
    params: Params
    version: int


class Channel:
    """The teachers' current views by follow code, shared by every session of this server."""

    def __init__(self) -> None:
        self._views: OrderedDict[str, View] = OrderedDict()
        self._lock = threading.Lock()

    def publish(self, code: str, page: str, params: Params) -> View:
        """Record the teacher's view; the version changes only when the view does."""
        with self._lock:
            old = self._views.pop(code, None)
            view = (
                old if old and (old.page, old.params) == (page, params) else View(page, params, (old.version if old else 0) + 1)
            )
            self._views[code] = view
            while len(self._views) > MAX_CODES:
                self._views.popitem(last=False)
            return view

    def get(self, code: str) -> View | None:
        with self._lock:
            return self._views.get(code)


@st.cache_resource
def channel() -> Channel:
    """The one channel of this server process."""
    return Channel()


def url_settings() -> Params:
    """The URL's settings (repeated keys kept), without presenter mode or the follow code."""
    return tuple(sorted((k, tuple(st.query_params.get_all(k))) for k in st.query_params if k not in NOT_SETTINGS))


def presenter_code() -> str:
    """This presenter's code: from the URL, else this session's, else a new one; written into the URL."""
    code = st.query_params.get(presenter.FOLLOW_PARAM, "").strip().upper()
    if not (len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)):
        code = st.session_state.get(CODE_KEY) or "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH))
    st.session_state[CODE_KEY] = code
    if st.query_params.get(presenter.FOLLOW_PARAM) != code:
        st.query_params[presenter.FOLLOW_PARAM] = code
    return code


def publish(code: str, page: PageInfo) -> None:
    """Called on every presenter run: students following `code` move to this page and these settings."""
    channel().publish(code, page.file, url_settings())


def follow(code: str, page: PageInfo) -> None:
    """A student's side: poll the teacher's view and switch to it whenever the teacher has moved."""

    @st.fragment(run_every=POLL_SECONDS)
    def poll() -> None:
        view = channel().get(code)
        if view is None:
            st.caption(f":material/cast: Follow code {code}: waiting for the teacher to open presenter mode.")
            return
        seen = st.session_state.get(SEEN_KEY)
        st.session_state[SEEN_KEY] = (code, view.version)
        moved = seen != (code, view.version)
        if moved and (view.page, view.params) != (page.file, url_settings()):
            st.switch_page(view.page, query_params={k: list(v) for k, v in view.params} | {presenter.FOLLOW_PARAM: code})
        st.caption(f":material/cast: Following the teacher (code {code}): this page moves when the teacher's does.")

    with st.sidebar:
        poll()


def run(page: PageInfo) -> str:
    """Call once per run before the page: the presenter's code (published), a student's follow, or ""."""
    if presenter.is_presenting():
        code = presenter_code()
        publish(code, page)
        return code
    code = st.query_params.get(presenter.FOLLOW_PARAM, "").strip().upper()
    if code:
        follow(code, page)
    return ""
