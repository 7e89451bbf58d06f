"""Echoing what a visitor typed: every value from a URL or a text box is shown as short inline code.

Streamlit renders the body of st.warning / st.error / st.markdown as Markdown, so a link value
such as ``[Sign in again](https://evil.example)`` would become a live link in the lab's own
warning and ``![x](https://evil.example/p.png)`` would make browsers fetch an outside image.
Inside a code span Markdown, HTML, LaTeX and Streamlit's :colour[...] directives are all
literal, so `echo` is the one way a message shows a visitor's text: shortened, with control and
invisible formatting characters replaced, and fenced by more backticks than it contains.
`describe` turns any error into message text the same way: a ConfigError's value through
`echo`, any other error's text with every Markdown character escaped.
"""

from __future__ import annotations

import re
import unicodedata

from resnet_core.config import ConfigError

ECHO_LIMIT = 40  # characters of a visitor's value shown; the rest becomes an ellipsis
MESSAGE_LIMIT = 400  # characters of an error's own text shown
ELLIPSIS = "…"
MARKDOWN_ACTIVE = frozenset("\\`*_[]<>!#|:$~&")  # what can start a link, image, tag, emphasis, directive or formula
_BACKTICK_RUNS = re.compile(r"`+")


def _visible(char: str) -> str:
    """Control, format (bidi overrides, zero-width) and line/paragraph separators would reshape the message: replace them."""
    return "\ufffd" if unicodedata.category(char) in ("Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp") else char


def echo(value: object, limit: int = ECHO_LIMIT) -> str:
    """`value` as a Markdown code span of at most `limit` characters (plus an ellipsis); safe inside any message."""
    text = "".join(_visible(c) for c in str(value))
    if not text:
        return "(empty)"
    if len(text) > limit:
        text = text[:limit] + ELLIPSIS
    fence = "`" * (1 + max((len(run) for run in _BACKTICK_RUNS.findall(text)), default=0))
    # CommonMark strips one space from each end of a span that starts or ends with a backtick or a space: pad it back.
    pad = " " if text[0] == "`" or text[-1] == "`" or (text[0] == text[-1] == " " and text.strip(" ")) else ""
    return f"{fence}{pad}{text}{pad}{fence}"


def plain(text: str, limit: int = MESSAGE_LIMIT) -> str:
    """`text` shortened, one line, every Markdown-active character backslash-escaped: Markdown shows it literally."""
    text = "".join(_visible(c) for c in text)
    text = text[:limit] + ELLIPSIS if len(text) > limit else text
    return "".join("\\" + c if c in MARKDOWN_ACTIVE else c for c in text)


def describe(error: Exception) -> str:
    """An error as message text: a ConfigError names its field and echoes the value; any other text is escaped."""
    if isinstance(error, ConfigError):
        value = f" {echo(error.value)}" if error.has_value else ""
        return f"**{error.field}**:{value} {error.problem}"  # the problem is the config's own wording
    return plain(str(error))


def refused(error: Exception, what: str = "experiment") -> str:
    """The one sentence a page shows when the engine refuses to run its settings (shown with the block icon)."""
    return f"This {what} can't run: {describe(error)}"
