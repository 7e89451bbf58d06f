"""Degradation (He et al. 2015, Figs. 1 and 6): deeper plain nets train worse; residual nets don't.

Thin: URL-bound widgets -> ExperimentConfig + depths -> one training job per depth in a worker
(lab.jobs.train_run, cached) -> science_charts. The verdict under the charts is computed from the measured errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from lab import degradation as D
from lab import optimiser
from lab.errors import error_method
from lab.pages import DEGRADATION
from resnet_core.config import ExperimentConfig
from resnet_core.results import ExperimentLog, tag
from serving.job import JobRequest
from ui import shared
from ui.controls import experiment_controls
from ui.exports import share_box, show_figure, view_name
from ui.runner import Run
from ui.science import SEED_LISTS, experiment_downloads, seed_control, train_and_draw
from ui.sweeps import stored_sweep_section
from ui.url import check_url

DEFAULTS = DEGRADATION.defaults  # why these: lab/pages.py
MOST_DEPTHS = 4  # depths one comparison trains: the multiselect's cap, and check_url's
PAGE = DEGRADATION.url_path
MISSION = ("steps", "seed")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "batch_size", "width", "eval_every")


def runs_for(config: ExperimentConfig, depths: Sequence[int], seeds: Sequence[int]) -> list[Run]:
    """One pair per depth and seed, cached under the engine's own "train" kind (the Gradient Flow page shares them)."""
    runs = []
    for depth in sorted(depths):
        for seed in seeds:
            request = JobRequest("train", config.replace(depth=depth, seed=seed), "lab.jobs:train_run")
            runs.append(Run(request, tag=lambda rs, d=depth, s=seed: tag(rs, depth=d, seed=s), step_records=2 * config.steps))
    return runs


def draw(log: ExperimentLog, config: ExperimentConfig, key: str) -> None:
    """Curves, final error vs depth, init gradient ratios and the verdict: live while training and once at the end.

    A finished log is the server's one copy (ui.shared): its frames, figures and sentences are built once for every
    session; `name` (in each figure's key) holds every setting they read besides the log."""
    name = view_name(PAGE, config, DEFAULTS)
    evals = shared.derived(log, "eval_frame", log.eval_frame)
    if not evals.empty:
        show_figure(lambda: D.degradation_curves(evals), f"{name}_curves", f"{key}_curves", source=log)
    left, right = st.columns(2)
    final = shared.derived(log, "final_frame", log.final_frame)
    with left:
        if not final.empty:
            show_figure(lambda: D.final_error_vs_depth(final), f"{name}_final", f"{key}_final", source=log)
    with right:
        ratios = shared.derived(log, "init_ratios", lambda: D.init_ratios(log))
        if not ratios.empty:
            show_figure(lambda: D.init_ratio_figure(ratios), f"{name}_ratio", f"{key}_ratio", source=log)
    for line in shared.derived(log, "verdict", lambda: D.verdict_lines(D.degradation_verdict(final))):
        st.markdown(line)
    if deepest := D.deepest_run(log):
        depth, seed, run = deepest
        story = shared.derived(
            log,
            ("optimiser_story", config.lr, config.norm),
            lambda: optimiser.optimiser_story(optimiser.optimiser_frame(run.layer_frame(), config.lr), config.norm),
        )
        if story:
            st.markdown(
                f"**Why, in the optimiser's terms** ({depth} layers, seed {seed}, measured at steps 0 and {config.steps - 1}):"
            )
            for line in story:
                st.markdown(line)


st.title("Degradation: deeper plain nets train worse")
st.markdown(
    "He et al. (2015) found that adding layers to a plain network made its **training** error go up: not "
    "overfitting, an optimisation difficulty. Residual networks of the same depth don't suffer it. Press the button "
    "to train plain and residual nets of each depth here, on the same data, from the same kind of init, with the "
    "same minibatches and step budget."
)
check_url(
    DEFAULTS,
    PAGE,
    (*MISSION, *ADVANCED),
    lists={"depths": [str(d) for d in D.DEGRADATION_DEPTHS], **SEED_LISTS},
    most={"depths": MOST_DEPTHS},
)
with st.sidebar:
    depths = st.multiselect(
        "Depths to compare (weight layers)",
        D.DEGRADATION_DEPTHS,
        default=D.DEFAULT_DEPTHS,
        key="depths",
        bind="query-params",
        max_selections=MOST_DEPTHS,
        help="He et al. Fig. 6 compares 20, 32, 44, 56 (and 110)",
    )
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    seeds = seed_control(config)
    share_box(config, DEFAULTS)
if len(depths) < 2:
    st.warning(
        "Choose at least two depths in the sidebar: degradation is a comparison between depths.", icon=":material/warning:"
    )
    st.stop()
log, finished = train_and_draw(
    lambda: runs_for(config, depths, seeds),
    ExperimentLog,
    lambda log, key: draw(log, config, key),
    label="Train all depths",
    key="science",
    shared_as=PAGE,
)
if finished:
    experiment_downloads(
        log, config, f"{view_name(PAGE, config, DEFAULTS)}_depths-{'-'.join(map(str, sorted(depths)))}", "degradation"
    )
stored_sweep_section(config, "depth", sorted(depths), view_name(PAGE, config, DEFAULTS))
with st.expander("What am I looking at?", expanded=log is None):
    st.markdown(
        "- **Curves:** one colour per depth; plain nets on the left, residual on the right. Solid lines are the "
        "error on the whole training set, dashed lines on held-out test images; each line is the mean over the seeds and "
        "the shaded band their range. Every error on this page is measured the same way: "
        f"{error_method(config.norm)}.\n"
        "- **Final training error vs depth:** degradation is the plain line rising with depth while the residual line "
        "stays low; the dots are the single seeds.\n"
        "- **Gradient ratio at initialisation:** the first hidden layer's gradient norm over the last one's. With BatchNorm "
        "the plain nets' ratio is far **above** 1: their gradients *grow* toward the input. So their trouble is **not** "
        "vanishing gradients, as He et al. already argued (and Yang et al. 2019 measured); it is an optimisation difficulty "
        "that the shortcuts remove. The optimiser's view under the verdict shows it: the plain net's first updates "
        "are many times its weights, the weights blow up, and its input layers then barely move (Yang et al. 2019).\n"
        "- Every number here is measured in this run; the paper trained CIFAR-10 for 64k iterations, this lab trains "
        "8x8 digits for a few hundred steps so it fits in a lesson."
    )
