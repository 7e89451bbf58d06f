"""The lab's pages, in one registry: app.py's navigation, lessons, links and tests all read it."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class PageInfo:
    """One page: its script under views/, its title and icon in the top bar, its section, and its own URL keys."""

    file: str
    title: str
    icon: str  # a Material icon: shipped with Streamlit, so it renders offline
    section: str
    url_keys: tuple[str, ...] = ()  # keys the page reads beyond the config's fields; its check_url lists are these

    @property
    def url_path(self) -> str:
        """The page's URL: views/gradient_flow.py -> /gradient-flow."""
        return Path(self.file).stem.replace("_", "-")


GRADIENT_FLOW = PageInfo("views/gradient_flow.py", "Gradient flow", ":material/show_chart:", "Explore")
SEEDS_KEY = "seeds"  # the science pages' number of seeds per comparison
DEGRADATION = PageInfo("views/degradation.py", "Degradation", ":material/trending_up:", "Science", ("depths", SEEDS_KEY))
IDENTITY = PageInfo("views/identity.py", "Identity & L2", ":material/equal:", "Science", ("alpha", "l2s", SEEDS_KEY))
SHORTCUTS = PageInfo("views/shortcuts.py", "Shortcuts & dimensions", ":material/alt_route:", "Science", (SEEDS_KEY,))
LANDSCAPE = PageInfo(
    "views/landscape.py",
    "Shattered gradients & landscapes",
    ":material/landscape:",
    "Science",
    ("sg_depth", "sg_norm", "sg_seeds", "sg_skip"),
)
LESION = PageInfo("views/lesion.py", "Lesion & paths", ":material/content_cut:", "Science")
PREACTIVATION = PageInfo("views/preactivation.py", "Pre-activation", ":material/swap_vert:", "Science", (SEEDS_KEY,))
THEORY = PageInfo("views/theory.py", "Theory", ":material/functions:", "Science")
LESSONS = PageInfo("views/lessons.py", "Lessons", ":material/school:", "Classroom")

PAGES = (
    GRADIENT_FLOW,
    DEGRADATION,
    IDENTITY,
    SHORTCUTS,
    LANDSCAPE,
    LESION,
    PREACTIVATION,
    THEORY,
    LESSONS,
)  # in menu order; the first is the landing page


def page_by_file(file: str) -> PageInfo:
    """The registered page of a script path; ValueError for a file that is not a page."""
    for page in PAGES:
        if page.file == file:
            return page
    raise ValueError(f"{file!r} is not a registered page; pages: {', '.join(p.file for p in PAGES)}")


def page_named(name: str) -> PageInfo:
    """The registered page whose URL path is `name` (views pass it as their PAGE); ValueError for any other name."""
    for page in PAGES:
        if page.url_path == name:
            return page
    raise ValueError(f"{name!r} is not a registered page; pages: {', '.join(p.url_path for p in PAGES)}")


def page_by_url_path(path: str) -> PageInfo:
    """The page served at /<path>; the landing page for "" (Streamlit serves the default page at the root)."""
    for page in PAGES:
        if page.url_path == path.strip("/"):
            return page
    return PAGES[0]
