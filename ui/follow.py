"""Follow the teacher: every student's device shows the presenter's current view as the teacher moves.

A presenter session has a short follow code, kept in its URL with a secret (?follow=K4TW.x8f2k1Qz)
so a reload keeps it and nobody else can drive the class with it; students get the code alone. Every run of a page in presenter mode publishes that page and its settings to a channel in
this server's memory under the code (no name, no address, nothing on disk). A student's link
carries the same code without presenter mode: a fragment polls the channel every few seconds
and, when the teacher has moved since the student last followed, switches to the teacher's
view. Between two moves a student explores freely; the teacher's next move brings them back.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass
from urllib.parse import urlencode

import streamlit as st

from lab import pages
from lab.pages import PageInfo
from ui import presenter
from ui.echo import echo

ALPHABET = "ACDEFHJKMNPRTWXY3479"  # no look-alikes (0/O, 1/I/L, 2/Z, 5/S, 6/G, 8/B): read off a projector
CODE_LENGTH = 4
POLL_SECONDS = 2.0  # a student's view catches up with the teacher within this, at one tiny fragment rerun each
MAX_CODES = 500  # classes on one server at once; the oldest code is forgotten first
SECRET_LENGTH = 8
CODE_KEY = "_follow_key"  # session_state: this presenter's (code, secret)
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
        self._owners: dict[str, str] = {}  # code -> the secret of the presenter who made it
        self._lock = threading.Lock()

    def publish(self, code: str, secret: str, page: str, params: Params) -> bool:
        """Record the teacher's view (the version changes only when the view does); False: another presenter's code."""
        with self._lock:
            if self._owners.setdefault(code, secret) != secret:
                return False
            old = self._views.pop(code, None)
            same = old is not None and (old.page, old.params) == (page, params)
            self._views[code] = old if same and old else View(page, params, (old.version if old else 0) + 1)
            while len(self._views) > MAX_CODES:
                self._owners.pop(self._views.popitem(last=False)[0], None)
            return True

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


def new_key() -> tuple[str, str]:
    """A fresh follow code for the screen and the secret that only the presenter's own URL carries."""
    return "".join(secrets.choice(ALPHABET) for _ in range(CODE_LENGTH)), secrets.token_urlsafe(6)


def is_code(code: str) -> bool:
    """Only codes `new_key` can hand out: anything else is a visitor's text, which is never shown unescaped."""
    return len(code) == CODE_LENGTH and set(code) <= set(ALPHABET)


def presenter_key() -> tuple[str, str]:
    """This presenter's (code, secret): from its URL (a reload keeps them), else this session's, else new ones."""
    code, _, secret = st.query_params.get(presenter.FOLLOW_PARAM, "").partition(".")
    if is_code(code) and len(secret) >= SECRET_LENGTH:
        return code, secret
    return st.session_state.get(CODE_KEY) or new_key()


def publish(page: PageInfo) -> str:
    """Called on every presenter run: students following its code move to this page and these settings.

    The URL keeps `code.secret`; students get the code alone, so a student who adds ?present=1 gets a code of their
    own instead of driving the class.
    """
    code, secret = presenter_key()
    if not channel().publish(code, secret, page.file, url_settings()):
        code, secret = new_key()
        channel().publish(code, secret, page.file, url_settings())
    st.session_state[CODE_KEY] = (code, secret)
    if st.query_params.get(presenter.FOLLOW_PARAM) != f"{code}.{secret}":
        st.query_params[presenter.FOLLOW_PARAM] = f"{code}.{secret}"
    return code


def go_to(view: View, code: str) -> None:
    """Load the teacher's view in this tab. Not st.switch_page: the page's URL-bound widgets own their query
    parameters, so the server may not rewrite them; the browser loads the new address instead (a fresh run)."""
    query = urlencode([(k, v) for k, values in view.params for v in values] + [(presenter.FOLLOW_PARAM, code)])
    path = "" if view.page == pages.PAGES[0].file else pages.page_by_file(view.page).url_path  # the landing page: the root
    target = json.dumps(f"./{path}?{query}")
    # the frame is sandboxed from navigating the tab; a script it adds to the page (same origin) is not.
    # st.iframe refuses height 0; one pixel of an empty, borderless frame shows nothing.
    st.iframe(
        "<script>const s = parent.document.createElement('script');"
        f"s.textContent = 'window.location.assign(' + JSON.stringify(new URL({target}, parent.location.href).href) + ')';"
        "parent.document.body.appendChild(s);</script>",
        height=1,
    )


def follow(code: str, page: PageInfo) -> None:
    """A student's side: poll the teacher's view and switch to it whenever the teacher has moved."""

    @st.fragment(run_every=POLL_SECONDS)
    def poll() -> None:
        view = channel().get(code)
        if view is None:
            st.caption(f":material/cast: Follow code {code}: waiting for the teacher to open presenter mode.")
            return
        if (view.page, view.params) == (page.file, url_settings()):
            st.session_state[SEEN_KEY] = (code, view.version)  # this tab is at the teacher's view: followed
        elif st.session_state.get(SEEN_KEY) != (code, view.version):
            # Asked again on every poll until the tab reloads there: under load a poll can rerun before the frame's
            # script has run, and a move marked seen then would be lost for good.
            go_to(view, code)
        st.caption(f":material/cast: Following the teacher (code {code}): this page moves when the teacher's does.")

    poll()  # in the page, not the sidebar: a phone folds the sidebar away, and a folded frame never runs its script


def run(page: PageInfo) -> str:
    """Call once per run before the page: the presenter's code (published), a student's follow, or ""."""
    if presenter.is_presenting():
        return publish(page)
    code = st.query_params.get(presenter.FOLLOW_PARAM, "").partition(".")[0].strip().upper()
    if code and not is_code(code):  # a visitor's text: shown only through echo, never followed
        st.warning(
            f"{echo(code)} is not a follow code: the teacher's code is {CODE_LENGTH} characters, "
            "shown in the corner of the presenter's screen.",
            icon=":material/cast:",
        )
    elif code:
        follow(code, page)
    return ""
