"""Hostile URLs against every page: `python benchmarks/fuzz.py [--count 10000] [--seed 0]`.

Each URL opens one page in Streamlit's AppTest with a few of that page's query keys set to
hostile text (Markdown links and images, HTML, backtick breakouts, inf / nan / 1e999 / 400 digits,
control and bidi characters, 4,000 characters) or to cheap valid values, and is judged by
`findings`: an exception on the page, or a visitor's text rendered outside a code span, or a
code span longer than the echo limit. tests/test_url_fuzz.py runs a CI-sized sample of the
same generator; this script runs it at scale and prints the counts (docs/RELIABILITY.md, "Fuzz").

No training runs: pages train only on a button or on a lesson link, and no valid lesson name is
generated; the science pages' time estimate (a probe training) is replaced by a constant.
"""

from __future__ import annotations

import argparse
import os
import random
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: its folder is on sys.path, the repository (the lab, benchmarks/) is not
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import ROOT
from resnet_core.config import FIELDS
from ui.echo import ECHO_LIMIT

MARKER = "evil.example"  # in every hostile text: it may only ever appear inside a code span
HOSTILE_TEXT = (
    f"[Click here to sign in again](https://{MARKER}/login)",
    f"![x](https://{MARKER}/pixel.png)",
    f"<script>fetch('https://{MARKER}')</script>",
    f"<img src=https://{MARKER}/x.png onerror=alert(1)>",
    f"` [x](https://{MARKER}) `",
    f"``` ![a](https://{MARKER}/a.png)",
    f"`\n\n# {MARKER} heading",
    f":red[{MARKER}] :material/warning:",
    f"$\\href{{https://{MARKER}}}{{x}}$",
    f"javascript:alert('{MARKER}')",
    f"\u202e{MARKER}\u200b",
    f"**{MARKER}**\r\n- list",
    f"{MARKER}" + "A" * 4000,
    "A" * 4000 + MARKER,
)
HOSTILE_NUMBERS = ("inf", "-inf", "nan", "NaN", "1e999", "-1e999", "9" * 400, "-" + "9" * 400, "9.7", "-1", "1e-400")
ODD_TEXT = ("", " ", "\t", "0x1f", "1_0", "٣", "+5", " 8 ", "1e3", "١٢", "None", "true", "[]")
# Valid values that keep each page cheap: small nets, so the init measurement a page draws stays fast.
CHEAP = {
    "arch": ("mlp", "cnn"),
    "dataset": ("moons", "digits", "spirals", "cifar10"),
    "depth": ("4", "8", "14", "2"),
    "width": ("2", "4"),
    "shortcut": ("A", "B", "C"),
    "l2": ("0.0", "0.0002", "0.01"),
    "lr": ("0.05", "0.3"),
    "steps": ("0", "1"),
    "batch_size": ("16", "32"),
    "seed": ("1", "7"),
    "n_samples": ("200",),
    "data_path": ("/etc/passwd", "/root/.ssh", "/dev/stdin", "/" + "x" * 5000),
    "depths": ("8", "20", "57"),
    "alpha": ("0.0", "1.0", "0.3"),
    "l2s": ("0", "0.1", "1e-3"),
    "sg_depth": ("2", "8", "7"),
    "sg_norm": ("batch", "none", "layer"),
    "sg_seeds": ("1", "3", "4"),
    "follow": ("K4TW", "x" * 300),
    "present": ("1", "0"),
}
BASE = {"arch": "mlp", "dataset": "moons", "depth": "4", "width": "4", "n_samples": "200", "batch_size": "16", "steps": "0"}
COMMON_KEYS = (*FIELDS, "lesson", "present", "utm_source")
PAGES: dict[str, tuple[str, ...]] = {
    "app.py": (*COMMON_KEYS, "follow"),  # the landing page, Gradient flow, through the app shell
    "views/degradation.py": (*COMMON_KEYS, "depths"),
    "views/identity.py": (*COMMON_KEYS, "alpha", "l2s"),
    "views/shortcuts.py": COMMON_KEYS,
    "views/landscape.py": (*COMMON_KEYS, "sg_depth", "sg_norm", "sg_seeds"),
    "views/lesion.py": COMMON_KEYS,
    "views/preactivation.py": COMMON_KEYS,
    "views/theory.py": COMMON_KEYS,
    "views/lessons.py": COMMON_KEYS,
}
NEEDS_NAVIGATION = ("views/theory.py", "views/lessons.py")
ALERTS = ("warning", "error", "info", "success", "caption")
TEXT_ELEMENTS = (*ALERTS, "markdown", "text", "title", "header", "subheader")
_BACKTICK_RUNS = re.compile(r"`+")
_LONG_WORD = re.compile(rf"\S{{{ECHO_LIMIT + 20},}}")  # longer than any word or number of the lab's own messages
_LIVE_MARKUP = ("](http", "![", "<script", "<img", "javascript:")


@dataclass(frozen=True)
class Case:
    """One generated URL: the page script and its query (a list repeats a key)."""

    page: str
    query: dict[str, str | list[str]]


def hostile_value(rng: random.Random, key: str) -> str:
    """Hostile text, a hostile number, odd text, random Unicode, or (often) a cheap valid value."""
    pick = rng.random()
    if pick < 0.3:
        return rng.choice(HOSTILE_TEXT)
    if pick < 0.5:
        return rng.choice(HOSTILE_NUMBERS)
    if pick < 0.6:
        return rng.choice(ODD_TEXT)
    if pick < 0.7:
        return "".join(
            chr(rng.choice((rng.randrange(32, 0x2FFF), rng.randrange(0, 32), 0x60))) for _ in range(rng.randrange(1, 12))
        )
    choices = CHEAP.get(key) or (FIELDS[key].choices if key in FIELDS else None)
    return rng.choice(choices) if choices else rng.choice(HOSTILE_TEXT)


def cases(count: int, seed: int = 0) -> Iterator[Case]:
    """`count` URLs, cycling through the pages, each with one to four hostile or valid keys over a cheap base."""
    rng = random.Random(seed)
    pages = list(PAGES)
    for index in range(count):
        page = pages[index % len(pages)]
        query: dict[str, str | list[str]] = dict(BASE)
        for key in rng.sample(PAGES[page], rng.randint(1, 4)):
            repeat = key in ("depths", "l2s") or rng.random() < 0.1
            values = [hostile_value(rng, key) for _ in range(rng.randint(1, 3) if repeat else 1)]
            query[key] = values if len(values) > 1 else values[0]
        yield Case(page, query)


def code_spans(markdown: str) -> tuple[list[str], str]:
    """The contents of the Markdown's code spans, and the text outside them (CommonMark: a run of n backticks closes n)."""
    spans: list[str] = []
    outside: list[str] = []
    position = 0
    runs = list(_BACKTICK_RUNS.finditer(markdown))
    index = 0
    while index < len(runs):
        opening = runs[index]
        closing = next((j for j in range(index + 1, len(runs)) if len(runs[j].group()) == len(opening.group())), None)
        if closing is None:
            index += 1
            continue
        outside.append(markdown[position : opening.start()])
        spans.append(markdown[opening.end() : runs[closing].start()])
        position = runs[closing].end()
        index = closing + 1
    outside.append(markdown[position:])
    return spans, "".join(outside)


def findings(at: Any) -> list[str]:
    """What is wrong with one finished AppTest run: exceptions, and visitor text shown as live Markdown or too long."""
    found = [f"exception: {str(getattr(e, 'value', e))[:200]}" for e in at.exception]
    for kind in TEXT_ELEMENTS:
        for element in at.get(kind):
            text = str(getattr(element, "value", "") or "")
            spans, outside = code_spans(text)
            if MARKER in outside.lower():
                found.append(f"{kind}: visitor text outside a code span: {text[:160]!r}")
            if kind in ALERTS and any(markup in outside.lower() for markup in _LIVE_MARKUP):
                found.append(f"{kind}: live markup: {text[:160]!r}")
            if kind in ALERTS and _LONG_WORD.search(outside):
                found.append(f"{kind}: unshortened text outside a code span: {text[:160]!r}")
            if any(len(span) > ECHO_LIMIT + 3 for span in spans):  # the limit, an ellipsis and CommonMark's two pad spaces
                found.append(f"{kind}: echoed value longer than {ECHO_LIMIT} characters: {text[:160]!r}")
    return found


def run_case(case: Case, timeout: float = 120) -> Any:
    """Open one case's page with its query in a fresh AppTest session.

    Pages with links to other pages (theory, lessons) need the app's navigation: the app opens
    first on its cheap base settings, then switches to the page with the hostile query.
    """
    from streamlit.testing.v1 import AppTest

    linked = case.page in NEEDS_NAVIGATION
    at = AppTest.from_file(str(ROOT / ("app.py" if linked else case.page)), default_timeout=timeout)
    if linked:
        at.query_params.update(BASE)
        at.run()
        at.query_params.clear()
        at.switch_page(case.page)
    for key, value in case.query.items():
        at.query_params[key] = value
    return at.run()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000, help="URLs to try (default 10,000)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--show", type=int, default=5, help="findings to print in full")
    args = parser.parse_args(argv)
    os.environ.setdefault("RESNET_LAB_CACHE_DIR", tempfile.mkdtemp(prefix="fuzz-cache-"))
    for name in ("HOSTED", "MAX_COMPUTE", "MAX_SWEEP", "MAX_CONCURRENT", "CIFAR10_PATH"):
        os.environ.pop(f"RESNET_LAB_{name}", None)
    counts: Counter[str] = Counter()
    shown = 0
    began = time.monotonic()
    for index, case in enumerate(cases(args.count, args.seed), start=1):
        try:
            problems = findings(run_case(case))
        except Exception as error:  # a harness failure (e.g. a timeout) is a finding too, never the end of the run
            problems = [f"traceback: {type(error).__name__}: {str(error)[:200]}"]
        counts["urls"] += 1
        counts[case.page] += 1
        counts["urls with findings"] += bool(problems)
        for problem in problems:
            counts[problem.split(":")[0]] += 1
            if shown < args.show:
                print(f"{case.page} {case.query!r:.300}\n  {problem}", file=sys.stderr)
                shown += 1
        if index % 500 == 0:
            print(f"{index} URLs, {time.monotonic() - began:.0f} s, {dict(counts)}", file=sys.stderr, flush=True)
    elapsed = time.monotonic() - began
    print(f"{counts['urls']} URLs in {elapsed:.0f} s ({elapsed / max(counts['urls'], 1):.2f} s each)")
    print(f"  URLs with findings: {counts['urls with findings']}; findings by kind:")
    for key in ("exception", "traceback", *TEXT_ELEMENTS):
        print(f"    {key}: {counts[key]}")
    print("  per page: " + ", ".join(f"{page} {counts[page]}" for page in PAGES))
    bad = sum(counts[key] for key in ("exception", "traceback", *TEXT_ELEMENTS))
    return 1 if bad else 0


if __name__ == "__main__":
    raise SystemExit(main())
