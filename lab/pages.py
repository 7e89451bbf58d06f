"""The lab's pages, in one registry: app.py's navigation, the views' defaults, lessons, links, tests and benchmarks read it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from resnet_core.config import ExperimentConfig


@dataclass(frozen=True)
class PageInfo:
    """One page: its script under views/, its title and icon in the top bar, its section, its own URL keys, and the
    experiment it shows before a visitor changes anything (what a lesson's settings, tests and benchmarks start from)."""

    file: str
    title: str
    icon: str  # a Material icon: shipped with Streamlit, so it renders offline
    section: str
    url_keys: tuple[str, ...] = ()  # keys the page reads beyond the config's fields; its check_url lists are these
    defaults: ExperimentConfig = field(default_factory=ExperimentConfig)

    @property
    def url_path(self) -> str:
        """The page's URL: views/gradient_flow.py -> /gradient-flow."""
        return Path(self.file).stem.replace("_", "-")


# Depth 56 is deep enough that plain and residual differ sharply. 100 steps and an evaluation every 50 (at 0, 50
# and 100), not the engine's 150 and 25: a Train in seconds on one core, and by step 100 the residual net fits the
# training set while the plain net is still far from it on every seed measured (benchmarks/RESULTS.md, "Gradient
# Flow default: 100 steps").
GRADIENT_FLOW = PageInfo(
    "views/gradient_flow.py",
    "Gradient flow",
    ":material/show_chart:",
    "Explore",
    defaults=ExperimentConfig(depth=56, steps=100, eval_every=50),
)
SEEDS_KEY = "seeds"  # the science pages' number of seeds per comparison
# lr 0.05, 100 steps, 3 seeds: on ten seeds nobody tuned to (100-109), plain-56 ends 62-80 points above plain-20 on
# every one and residual-56 within 2.6 points of residual-20 on nine (docs/SCIENCE_NOTES.md 4). Evaluations every
# 10 steps draw the training-error curves.
DEGRADATION = PageInfo(
    "views/degradation.py",
    "Degradation",
    ":material/trending_up:",
    "Science",
    ("depths", SEEDS_KEY),
    ExperimentConfig(depth=20, lr=0.05, steps=100, measure_every=100, eval_every=10),
)
IDENTITY = PageInfo(
    "views/identity.py",
    "Identity & L2",
    ":material/equal:",
    "Science",
    ("alpha", "l2s", SEEDS_KEY),
    ExperimentConfig(depth=20, steps=150, measure_every=150, eval_every=25),
)
SHORTCUTS = PageInfo(
    "views/shortcuts.py",
    "Shortcuts & dimensions",
    ":material/alt_route:",
    "Science",
    (SEEDS_KEY,),
    ExperimentConfig(depth=20, steps=100, measure_every=10, eval_every=20),
)
LANDSCAPE = PageInfo(
    "views/landscape.py",
    "Shattered gradients & landscapes",
    ":material/landscape:",
    "Science",
    ("sg_depth", "sg_norm", "sg_seeds", "sg_skip"),
    ExperimentConfig(depth=20, steps=150, measure_every=150, eval_every=150),
)
LESION = PageInfo(
    "views/lesion.py",
    "Lesion & paths",
    ":material/content_cut:",
    "Science",
    defaults=ExperimentConfig(depth=20, steps=150, measure_every=150, eval_every=150),  # both nets trained well (~3% test error)
)
# He et al. 2016 compare the units at 110, 164 and 1001 layers. A 110-layer MLP on the digits (BN, ReLU) trains 100
# steps fast enough on one core that both units at 3 seeds fit a lesson; the CNN (arch) is several times slower.
PREACTIVATION = PageInfo(
    "views/preactivation.py",
    "Pre-activation",
    ":material/swap_vert:",
    "Science",
    (SEEDS_KEY,),
    ExperimentConfig(arch="mlp", depth=110, width=32, steps=100, eval_every=100, measure_every=100),
)
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
