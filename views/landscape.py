"""Why residual nets train, measured: shattered gradients (Balduzzi et al. 2017) and loss-landscape slices (Li et al. 2018).

Thin: URL-bound widgets -> ShatterSpec / ExperimentConfig + SliceSpec -> worker jobs (lab.jobs.shattered_run
on page load, lab.jobs.landscape_run on the button) -> lab.landscape tables and verdicts -> lab.landscape_charts.
"""

from __future__ import annotations

import dataclasses

import streamlit as st

from lab import landscape as L
from lab import landscape_charts as charts
from lab.pages import LANDSCAPE
from resnet_core.config import ExperimentConfig
from resnet_core.specs import SKIPS, ShatterSpec, SliceSpec
from serving.job import JobRequest
from ui import shared
from ui.controls import experiment_controls
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, live_runs, shared_result, show_refusal
from ui.url import check_url

PAGE = LANDSCAPE.url_path
DEFAULTS = LANDSCAPE.defaults  # why these: lab/pages.py
MISSION = ("depth", "seed")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "steps", "batch_size", "width", "shortcut")
SHATTER_DEPTHS = (2, 8, 16, 24, 32, 48)
SHATTER_SEEDS = (1, 3, 5, 10)
NORMS = ("batch", "none")
SLICES = SliceSpec()


def shatter_section() -> None:
    """Computed on page load (about a second): both nets' gradients over the grid, for several seeds."""
    left, middle, right = st.columns(3)
    depth = left.select_slider("Hidden layers", SHATTER_DEPTHS, value=24, key="sg_depth", bind="query-params")
    norm = middle.radio("Normalisation", NORMS, key="sg_norm", bind="query-params", horizontal=True)
    seeds = right.select_slider("Random nets (seeds)", SHATTER_SEEDS, value=5, key="sg_seeds", bind="query-params")
    skip = st.radio(
        "Residual shortcuts around",
        SKIPS,
        format_func=L.SKIP_LABELS.get,
        key="sg_skip",
        bind="query-params",
        horizontal=True,
        help="The lab's residual MLP skips blocks of two weight layers (two g per shortcut). A shortcut around every "
        "layer, a + W g(BN(a)), is built here from the plain net's own layers: one g per shortcut.",
    )
    spec = ShatterSpec(depth=depth, norm=norm, seeds=seeds, skip=skip)
    request = JobRequest(
        L.spec_kind("shattered", spec), spec.config(spec.seed), "lab.jobs:shattered_run", (dataclasses.asdict(spec),)
    )
    log = shared_result(request, "differentiating both nets over the input grid", L.ShatterLog().extend, PAGE)
    lag1 = shared.derived(log, "lag1", log.lag1)  # it, the story and the figures: once per server (ui.shared)
    a, b = st.columns(2)
    a.metric(
        "plain: lag-1 autocorrelation",
        f"{lag1['plain'].mean:.2f}",
        border=True,
        help=f"range over seeds {lag1['plain'].show('.2f')}",
    )
    b.metric(
        "residual: lag-1 autocorrelation",
        f"{lag1['residual'].mean:.2f}",
        border=True,
        help=f"range over seeds {lag1['residual'].show('.2f')}",
    )
    st.markdown(shared.derived(log, "story", lambda: L.shatter_story(lag1, spec)))
    name = f"{PAGE}_shattered_depth-{depth}_{norm}_{skip}"
    show_figure(lambda: charts.gradient_figure(log.gradient_frame(), spec.seed), f"{name}_gradients", "sg_gradients", source=log)
    show_figure(lambda: charts.acf_figure(log.acf_frame()), f"{name}_acf", "sg_acf", source=log)
    st.caption(
        f"Width {spec.width}, {depth} hidden layers ({spec.shortcuts} shortcuts), He init, random biases with std {spec.bias_std:g} "
        f"(with BN: BN's shift), {spec.points} inputs evenly spaced in [-2, 2]. BN: the grid is fed as one minibatch, "
        "as in the paper; its statistics are then held fixed, so each dy/dx is the slope at that point alone. "
        "One backward pass gives all the gradients of a net."
    )


def draw_slices(log: L.LandscapeLog, config: ExperimentConfig, key: str) -> None:
    if not log.complete:
        st.caption("Training the pair; the slices follow once it is trained.")
        return
    # A finished log's story and figures: once per server (ui.shared).
    st.markdown(
        shared.derived(log, "story", lambda: L.landscape_story(log.summary(), log.n_params["residual"], SLICES.directions))
    )
    name = view_name(PAGE, config, DEFAULTS)
    show_figure(lambda: charts.slice_1d_figure(log.line_frame()), f"{name}_slice-1d", f"{key}_1d", source=log)
    show_figure(lambda: charts.contour_figure(log.surfaces), f"{name}_slice-2d", f"{key}_2d", source=log)
    errors = ", ".join(f"{v} {log.final[v]['train_error']:.1%}" for v in log.final)
    st.caption(f"Training error after {config.steps} steps: {errors}.")


st.title("Shattered gradients and loss landscapes")
st.markdown(
    "Two measurements of *why* shortcuts help, on the lab's own plain and residual nets. Balduzzi et al. (2017): in a "
    "deep plain stack the gradient with respect to the input decorrelates from one input to the next, like white "
    "noise, while a residual stack keeps it correlated. Li et al. (2018): around the trained weights the loss of a "
    "deep plain net is rougher and sharper than that of its residual twin."
)
check_url(
    DEFAULTS,
    PAGE,
    (*MISSION, *ADVANCED),
    lists={
        "sg_depth": [str(d) for d in SHATTER_DEPTHS],
        "sg_norm": list(NORMS),
        "sg_seeds": [str(s) for s in SHATTER_SEEDS],
        "sg_skip": list(SKIPS),
    },
)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    share_box(config, DEFAULTS)

st.header("1. Shattered gradients: dy/dx over a line of inputs")
try:
    shatter_section()
except (ValueError, EngineStopped) as error:
    show_refusal(error, "measurement")

st.header("2. Loss-landscape slices around the trained weights")
st.markdown(
    f"The pair is trained with the settings in the sidebar, then the loss on {SLICES.samples} training points is "
    f"evaluated along {SLICES.directions} random directions ({SLICES.points_1d} points each) and on a "
    f"{SLICES.points_2d}x{SLICES.points_2d} grid spanned by two of them, α and β from -{SLICES.span:g} to {SLICES.span:g}. "
    "Each direction is filter-normalised (every filter scaled to the norm of the trained filter); biases and BN's "
    "scale and shift are not moved. BN uses the statistics of those points at every grid point. The grid is coarse so "
    "that the job runs in seconds; the CLI's `landscape` subcommand takes finer ones (`--points-1d`, `--points-2d`, "
    "`--samples`)."
)
try:
    request = JobRequest(L.spec_kind("landscape", SLICES), config, "lab.jobs:landscape_run", (dataclasses.asdict(SLICES),))
    log, finished = live_runs(
        [Run(request, step_records=2 * config.steps, costs_as=(L.budget_config(config, SLICES),))],
        L.LandscapeLog,
        lambda log, key: draw_slices(log, config, key),
        label="Train and slice",
        key="landscape",
        lesson_config=config,
        shared_as=PAGE,
    )
except (ValueError, EngineStopped) as error:
    show_refusal(error)
    log = None
if log is not None:
    draw_slices(log, config, "slices_final")
with st.expander("What am I looking at?"):
    st.markdown(
        "- **dy/dx curves:** the slope of each net's output as the scalar input moves along the grid. White noise "
        "(no relation between neighbours) makes gradient descent's steps useless from one input to the next.\n"
        "- **Autocorrelation vs lag:** how alike the gradients of inputs k grid steps apart are; 1 = the same, 0 = unrelated.\n"
        "- **Loss slices:** the loss along straight lines through the trained weights (α = 0). *Rise*: the mean "
        "loss at α = ±1 minus the loss at 0 (sharpness). *Non-convex share*: grid points where the surface bends "
        "downward in some direction (the smaller eigenvalue of its finite-difference Hessian is negative); at the "
        "edges of a basin that also counts where the loss levels off.\n"
        "- Li et al. trained CIFAR-10 nets for hundreds of epochs; this lab trains small nets for a few hundred "
        "steps, so the contrast is much weaker: the sentence above says how much, measured."
    )
