"""Lessons: the lab's classroom stories as data, each one short link (`?lesson=<name>`).

A lesson names a page and the URL settings that make that page show one fact of
the science (docs/SCIENCE_NOTES.md and the papers the pages cite), with two or three sentences on what to look for and a "now try"
variation. The wording says what to *look for*, never a number to believe: every figure
on screen is measured by the page when the lesson opens (or read back from the shared
result cache when someone measured it before).

Settings were chosen by measuring them on 2 CPU cores (see tests/test_lessons.py and
docs/DEPLOY.md): each finishes in well under a minute, and each stays inside the hosted
default budget of `serving.limits`, so a hosted demo can run every lesson.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from urllib.parse import urlencode

from lab import pages
from resnet_core.config import FIELDS, ExperimentConfig, parse_params

LESSON_PARAM = "lesson"  # ?lesson=<name>: the one URL key of a lesson, read by ui.lessons and ui.presenter
PRESENT_PARAM = "present"  # ?present=1: presenter mode (ui.presenter), which a lesson's link can ask for


@dataclass(frozen=True)
class Lesson:
    """One story: where to go, what settings, what to look for, what to try next."""

    name: str  # the value of ?lesson=, lower-case words joined by hyphens
    title: str
    story: str  # two or three sentences: what the learner should see on the page
    page: str  # the page's source file, as st.navigation and st.switch_page know it
    params: Mapping[str, str | tuple[str, ...]] = field(default_factory=dict)  # the page's URL parameters (a tuple repeats a key)
    now_try: str = ""
    train: str = (
        ""  # the page's run to start on open ("train": Gradient Flow; else a science run's key); a cached one is drawn at once
    )
    question: str = ""  # asked before the page shows its measurement (predict, then run); the page answers it
    choices: tuple[str, ...] = ()  # the answers offered; none is marked right: the measurement decides

    def config(self) -> ExperimentConfig:
        """The experiment the settings describe over the page's own defaults (lab.pages), as the page builds it from
        its URL; page-specific keys are ignored. Raises ValueError if invalid."""
        settings = parse_params({k: v for k, v in self.params.items() if k in FIELDS and isinstance(v, str)})
        return pages.page_by_file(self.page).defaults.replace(**settings)

    def link(self, *, present: bool = False) -> str:
        """The short link, relative to wherever the lab is served: ?lesson=<name> (plus presenter mode)."""
        query = {LESSON_PARAM: self.name} | ({PRESENT_PARAM: "1"} if present else {})
        return "?" + urlencode(query)

    def page_params(self) -> dict[str, str | tuple[str, ...]]:
        """What the page's URL carries once the lesson is open: its settings and the lesson's name."""
        return dict(self.params) | {LESSON_PARAM: self.name}


GRADIENT_TRENDS = ("It shrinks toward the input (vanishes)", "About the same in every layer", "It grows toward the input")


def _frozen(params: dict[str, str | tuple[str, ...]]) -> Mapping[str, str | tuple[str, ...]]:
    return MappingProxyType(dict(params))


# The classic vanishing-gradient setting, shared by the sigmoid lesson and its pre-activation rerun.
SIGMOID_STACK = {
    "arch": "mlp",
    "dataset": "spirals",
    "depth": "20",
    "width": "32",
    "norm": "none",
    "activation": "sigmoid",
    "init": "xavier",
}

LESSONS: tuple[Lesson, ...] = (
    Lesson(
        name="vanishing-sigmoid",
        title="Vanishing gradients in a deep sigmoid stack",
        story=(
            "A 20-layer fully connected net with sigmoid activations, Xavier weights and no normalisation: the classic "
            "setting of the vanishing-gradient story. Follow the plain net's weight-gradient norms from the output back "
            "to the input on the log axis: every sigmoid multiplies the gradient by its slope, at most 1/4, so the "
            "first layers receive almost nothing. The residual net loses far less, but it loses too: "
            "in the paper's block the sigmoid comes after the addition, so every block still scales the gradient."
        ),
        page=pages.GRADIENT_FLOW.file,
        params=_frozen(SIGMOID_STACK),
        now_try="Switch the activation to relu and the initialisation to he: the plain net's first/last ratio jumps by "
        "orders of magnitude. Then add BatchNorm (norm = batch) and open the next lesson.",
    ),
    Lesson(
        name="batchnorm-explosion",
        title="With BatchNorm, plain gradients grow toward the input",
        story=(
            "The He et al. CIFAR network, 56 layers, BatchNorm and He init, measured at initialisation on the 8x8 "
            "digits. The popular story says deep plain nets fail because gradients vanish; with BatchNorm the "
            "measurement says the opposite: the plain net's gradient grows layer by layer toward the input, so its "
            "first/last ratio is in the hundreds, while the residual net's stays within a small factor."
        ),
        page=pages.GRADIENT_FLOW.file,
        params=_frozen(
            {"arch": "cnn", "dataset": "digits", "depth": "56", "width": "8", "norm": "batch", "activation": "relu", "init": "he"}
        ),
        question="With BatchNorm, 56 layers deep: how does the plain net's gradient change from the output back to the input?",
        choices=GRADIENT_TRENDS,
        now_try="Set depth to 20: the plain ratio falls to a few. Set norm to none at depth 56: without BatchNorm "
        "the picture changes again; compare the two ratios shown above the charts, then the comparison with the other "
        "padding and image size under 'What am I looking at?': how much of the fall is zero padding?",
    ),
    Lesson(
        name="thousand-layers",
        title="A 1000-layer residual net that still trains",
        story=(
            "1000 hidden layers (500 residual blocks), no normalisation, and the last layer of every branch "
            "initialised to zero (Goyal et al. 2017), so each block starts as exactly its shortcut. The residual net's "
            "training error falls well below chance within 60 steps. The plain net with the same initialisation "
            "has nothing to pass on: its zeroed layers make its output constant, so its error stays at chance."
        ),
        page=pages.GRADIENT_FLOW.file,
        params=_frozen(
            {
                "arch": "mlp",
                "dataset": "moons",
                "depth": "1000",
                "width": "8",
                "norm": "none",
                "activation": "relu",
                "init": "zero_residual",
                "l2": "0.0",
                "optimizer": "sgd",
                "lr": "0.001",
                "steps": "60",
                "batch_size": "64",
                "measure_every": "20",
                "eval_every": "20",
            }
        ),
        now_try="Change init to he: without the zeroed branches the residual net's signal doubles block after block "
        "(about 2^500) and its loss is no longer a number at step 0. Back on zero_residual, raise lr to 0.03: "
        "500 blocks taking the same first step together overshoot and the error stays at chance, which is why "
        "deep nets without normalisation need small steps.",
        train="train",
    ),
    Lesson(
        name="degradation",
        title="The degradation problem: 56 plain layers train worse than 20",
        story=(
            "He et al. found that a deeper plain network reaches a higher training error than a shallower one: not "
            "overfitting, since it is the error on its own training data. Train plain and residual nets of 20 and 56 "
            "layers, each from three seeds, and compare the final training errors: the verdict under the charts says on "
            "how many seeds the deep plain net falls behind and the residual nets stay together. The init gradient "
            "ratios beside them show that the plain nets' gradients did not vanish, and the optimiser's view shows what "
            "the explosion does instead: an optimisation difficulty, as the paper argued."
        ),
        page=pages.DEGRADATION.file,
        params=_frozen({"depths": ("20", "56"), "steps": "100", "lr": "0.05", "seed": "0"}),
        question="After the same training, how does the 56-layer plain net's training error compare with the 20-layer one's?",
        choices=("Lower: more layers fit better", "About the same", "Higher: the deeper net trains worse"),
        now_try="Add 32 and 44 to the depths and watch the plain line climb with depth; raise the seeds to 5 and see "
        "whether the bands still keep plain and residual apart.",
        train="science",
    ),
    Lesson(
        name="identity-l2",
        title="L2 and the identity: a residual block can always do nothing",
        story=(
            "With every branch's last layer scaled to zero (alpha = 0), each identity residual block returns its "
            "input exactly, while the plain stack outputs the same thing for every image: both are measured on the "
            "real nets. Strong L2 pushes weights toward zero, but with BatchNorm only BN's scale sets a branch's size, "
            "so the sweep below measures how far it really goes: the sentences under it give the branch ratio, the "
            "final errors and on how many seeds the residual net trains better."
        ),
        page=pages.IDENTITY.file,
        params=_frozen({"alpha": "0.0", "depth": "20", "shortcut": "A", "l2s": ("0", "1e-3", "0.01", "0.03", "0.1")}),
        now_try="Move alpha back to 1 and watch the identity check fail; choose shortcut B and see why the transition "
        "blocks can't be the identity (a projection's output can be negative, and the ReLU cuts it).",
        train="l2",
    ),
    Lesson(
        name="shortcuts-abc",
        title="Options A, B and C at the stage transitions",
        story=(
            "Where a block halves the feature map and doubles the channels, its shortcut must change shape too: the "
            "table shows every block's shapes, its shortcut and the parameters each option adds (option A adds none). "
            "Then the plain net and the residual net with each option train on the same budget over three seeds, and the "
            "sentence under the curves says whether any ordering of A, B and C holds on every seed or sits in seed noise."
        ),
        page=pages.SHORTCUTS.file,
        params=_frozen({"depth": "20", "shortcut": "B"}),
        now_try="Switch the shortcut to C: every block gets a projection and the parameter count grows. The paper's "
        "ImageNet numbers say projections help a little and are not essential: does this small run agree?",
        train="shortcuts",
    ),
    Lesson(
        name="shattered-gradients",
        title="Shattered gradients: white noise vs brown noise",
        story=(
            "Sweep one scalar input along a line and plot the slope dy/dx of a 24-layer plain and residual stack with "
            "BatchNorm (Balduzzi et al. 2017). They found the plain stack's slope jumping from one input to the next like "
            "white noise (lag-1 autocorrelation near zero) and the residual stack's wandering like brown noise; the sentence "
            "under the numbers says whether these random nets show it clearly, and how far the figures are from the paper's."
        ),
        page=pages.LANDSCAPE.file,
        params=_frozen({"sg_depth": "24", "sg_norm": "batch", "sg_seeds": "5"}),
        now_try="Put the residual shortcuts around every layer (one g per shortcut) and compare again. "
        "Set the hidden layers to 2: shattering grows with depth. Then choose normalisation none at 24 layers to see BN's part.",
    ),
    Lesson(
        name="loss-landscape",
        title="Loss-landscape slices: plain vs residual",
        story=(
            "Both nets are trained, then their loss is measured along filter-normalised random directions through the "
            "trained weights (Li et al. 2018), who found deep plain nets' surfaces sharp and chaotic where their residual "
            "twins sit in smooth basins. Look at the 2-D contours and at the sentence above them: is the plain net's basin "
            "sharper or rougher here, and clearly so across the random directions? On nets this small the contrast is far "
            "weaker than on Li et al.'s CIFAR-10 nets, and the page says by how much."
        ),
        page=pages.LANDSCAPE.file,
        params=_frozen({"depth": "20", "seed": "0"}),
        now_try="Set depth to 56: the plain net trains worse in the same steps, and its slices change with it. "
        "Change the seed to see how much of the contrast survives another draw.",
        train="landscape",
    ),
    Lesson(
        name="lesion-study",
        title="Delete a block: the residual net barely notices, the plain net breaks",
        story=(
            "Veit, Wilber and Belongie (2016) deleted single blocks of trained networks at test time. Here a plain and a "
            "residual net of 20 layers train on the same batches, then lose one block at a time, then k random blocks: "
            "compare the two nets' test errors against their dotted baselines, and read the measured story under the charts."
        ),
        page=pages.LESION.file,
        params=_frozen({"depth": "20"}),
        now_try="Choose block = pre: does the pre-activation residual net survive deletions as well? Then set init "
        "to zero_residual and steps to 0: every residual branch is exactly zero, so no deletion changes the residual net at all.",
        train="lesion",
    ),
    Lesson(
        name="short-paths",
        title="Most of the gradient flows through short paths",
        story=(
            "Unrolled, 15 residual blocks are 2^15 paths, and their lengths follow a binomial distribution around 7.5. "
            "The middle chart measures one path's gradient at each length, routing the backward pass through the "
            "branches of k blocks and the shortcuts of the rest: it shrinks with every branch, so the right-hand chart's "
            "total gradient peaks at short paths."
        ),
        page=pages.LESION.file,
        params=_frozen({"depth": "32"}),
        now_try="Set depth to 20 and to 56 and compare where the total gradient peaks; Veit et al. found paths of 5 "
        "to 17 blocks carry almost all of it in a 54-block ResNet.",
        train="lesion",
    ),
    Lesson(
        name="pre-activation-sigmoid",
        title="Pre-activation: the vanishing-sigmoid net with g off the shortcut path",
        story=(
            "The net of the first lesson (20 sigmoid layers, Xavier, no normalisation), once with He et al.'s original "
            "unit and once with the pre-activation unit of their 2016 paper. In the original unit the sigmoid after the "
            "addition scales the gradient in every block, shortcut included; compare the dashed residual line (pre) with "
            "the solid one (post)."
        ),
        page=pages.PREACTIVATION.file,
        params=_frozen(SIGMOID_STACK),
        now_try="Press Train both units and read, seed by seed, whether the unit with the flatter gradient also trains "
        "better. Then set depth to 110 and compare the two residual lines at initialisation again.",
    ),
    Lesson(
        name="pre-activation-110",
        title="110 layers with BatchNorm: post- vs pre-activation, trained",
        story=(
            "A 110-layer fully connected net on the 8x8 digits, with BatchNorm and ReLU, once with each unit: measured at "
            "initialisation, then trained from three seeds. With ReLU the shortcut path's g only cuts negative values and "
            "BN keeps every layer's scale, so first see how far apart the two residual lines are at step 0; then read the "
            "training errors below, seed by seed."
        ),
        page=pages.PREACTIVATION.file,
        params=_frozen(
            {"arch": "mlp", "dataset": "digits", "depth": "110", "width": "32", "norm": "batch", "activation": "relu"}
        ),
        now_try="Set depth to 56 or 164 and train again: the verdict is recomputed from the seeds each time. Or set norm "
        "to none and see what BatchNorm did for each unit.",
        train="science",
    ),
)

_BY_NAME: dict[str, Lesson] = {lesson.name: lesson for lesson in LESSONS}


def lesson_by_name(name: str) -> Lesson:
    """The lesson called `name`; ValueError listing the real names for a mistyped link."""
    try:
        return _BY_NAME[name.strip().lower()]
    except KeyError:
        raise ValueError(f"lesson: {name!r} is not a lesson of this lab; allowed: {', '.join(_BY_NAME)}") from None
