"""The look every figure of the lab shares: the variants' colours, the font size, titles, the base layout,
and the short form of an L2 strength that captions, categories and file names use.

One colour per variant across the whole app (Okabe-Ito, readable by colour-blind viewers
and on a washed-out projector); titles that fit a half-width chart on a projector and a phone.
"""

from __future__ import annotations

import math
import re
import textwrap

import plotly.graph_objects as go


def l2_label(l2: float) -> str:
    """0, 1e-4, 0.01: short L2 strengths for file names, captions and the sweep's categories (a log axis can't show 0)."""
    if l2 == 0:
        return "0"
    text = f"{l2:.0e}" if l2 < 0.01 else f"{l2:g}"
    return text.replace("e-0", "e-").replace("e+0", "e")


COLORS = {"plain": "#D55E00", "residual": "#0072B2"}
FONT_SIZE = 16
# the words of axes and titles that many charts share
LAYER_AXIS, BLOCK_AXIS = "layer (1 = input side)", "block (1 = input side)"
LOSS_TITLE = "Training loss (minibatch)"


TITLE_CHARS = 36  # a title line that fits a half-width chart at 1280x720 and a 390 px phone at the chart font
SUBTITLE_CHARS = 56  # the smaller qualifier lines below it
TITLE_BREAKS = (
    ": ",
    " (",
    " at ",
    " after ",
    " while ",
    " during ",
    " vs ",
    " with ",
    ", ",
)  # where a title splits into what and qualifier
TITLE_LINE_PX = 22  # top margin per extra title line
# A line keeps its markers up to this many points. Past it, on a half-width chart (~600 px), the markers touch and
# read as a thicker line, and each is an SVG node Chromium lays out: drawing them was most of the 1000-layer lesson's
# per-layer charts (benchmarks/RESULTS.md, "long traces").
# The legend, horizontal, at the bottom of the figure (container coordinates), under the x axis's title: Plotly grows
# the bottom margin to hold it however many rows it wraps into. Beside the title (top right) it covered the title and
# subtitle on a phone, and below the plot area in paper coordinates it covered the x axis's title there.
LEGEND = {"orientation": "h", "yref": "container", "y": 0.0, "yanchor": "bottom", "xanchor": "left", "x": 0.0}
MARKED_POINTS = 120


def chart_title(text: str, qualifier: str = "") -> str:
    """The one layout of a chart title: what the chart shows on the first line, its qualifier smaller below.

    A Plotly title never wraps and the server can't know the screen's width, so a long title without a
    `qualifier` splits at its last natural break within TITLE_CHARS ("... per layer | at initialisation");
    a title with its own line breaks is left as written.
    """
    if qualifier:
        head, tail = text, qualifier
    elif "<br>" in text or len(text) <= TITLE_CHARS:
        return text
    else:
        # a break's punctuation stays at the end of the first line ("Forward signal:"), so the lines read as the title
        found = [m.start() + (sep[0] in ":,") for sep in TITLE_BREAKS for m in re.finditer(re.escape(sep), text)]
        cuts = [cut for cut in found if 0 < cut <= TITLE_CHARS]
        if cuts:
            head, tail = text[: max(cuts)].strip(), text[max(cuts) :].strip()
        else:
            head, *rest = textwrap.wrap(text, TITLE_CHARS, break_on_hyphens=False)
            tail = " ".join(rest)
    even = math.ceil(len(tail) / math.ceil(len(tail) / SUBTITLE_CHARS)) + 4  # lines of even length: no one-word last line
    return head + "<br><sup>" + "<br>".join(textwrap.wrap(tail, min(even, SUBTITLE_CHARS), break_on_hyphens=False)) + "</sup>"


def title_margin(*titles: str) -> int:
    """The top margin (px) that holds the longest of these titles."""
    return 70 + TITLE_LINE_PX * max(title.count("<br>") for title in titles)


def base_layout(fig: go.Figure, title: str, x_title: str, y_title: str, *, log_y: bool = False) -> go.Figure:
    """Shared look: large readable fonts, the legend under everything (LEGEND), log y for norms.

    Set attribute by attribute: the same figure as update_layout / update_xaxes, at about a tenth of
    the cost (plotly's update path re-parses every key), and the server builds these for every session.
    """
    layout = fig.layout
    text = chart_title(title)
    layout.title = {"text": text, "x": 0.0, "xanchor": "left"}
    layout.font = {"size": FONT_SIZE}
    layout.legend = LEGEND
    # subplot titles (make_subplots) sit on the top row's plots, in the title's margin: a line's more room for them
    top_row_titles = any(a.yref == "paper" and a.yanchor == "bottom" and a.y == 1.0 for a in layout.annotations or ())
    layout.margin = {"l": 10, "r": 10, "t": title_margin(text) + TITLE_LINE_PX * top_row_titles, "b": 10}
    layout.hovermode = "closest"
    for axis in fig.select_xaxes():
        axis.title.text = x_title
    for axis in fig.select_yaxes():
        axis.title.text = y_title
        axis.type = "log" if log_y else "linear"
        axis.exponentformat = "power" if log_y else "none"
    return fig


def unmark_long_lines(fig: go.Figure) -> None:
    """Draw every line of more than MARKED_POINTS points without markers (frames of a replay included); points
    without a line (a projection's diamonds) keep theirs. Hover still reads each point."""
    for trace in [*fig.data, *(trace for frame in fig.frames or () for trace in frame.data)]:
        points = getattr(trace, "y", None)
        if getattr(trace, "mode", None) == "lines+markers" and points is not None and len(points) > MARKED_POINTS:
            trace.mode = "lines"
