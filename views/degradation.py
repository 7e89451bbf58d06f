"""Degradation (He et al. 2015, Figs. 1 and 6): deeper plain nets train worse; residual nets don't.

Thin: URL-bound widgets -> ExperimentConfig + depths -> one training job per depth in a worker
(lab.jobs.train_run, cached) -> science_charts. The verdict under the charts is computed from the measured errors.
"""

from __future__ import annotations

from collections.abc import Sequence

import streamlit as st

from lab import experiments as E
from lab import science_charts as charts
from resnet_core.config import ExperimentConfig
from serving.jobs import JobRequest
from ui.controls import check_url, experiment_controls
from ui.echo import describe
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, live_runs, probe_seconds
from ui.science import experiment_downloads
from ui.sweeps import stored_sweep_section

# lr 0.05, 100 steps: over seeds 0-4 plain-56 ends far above plain-20 and residual-56 near residual-20.
# At the paper's lr 0.1 residual-56 sometimes stalls for a seed, and it takes longer (docs/SCIENCE_NOTES.md 2).
DEFAULTS = ExperimentConfig(depth=20, lr=0.05, steps=100, measure_every=100, eval_every=25)
DEFAULT_DEPTHS = [20, 56]
PAGE = "degradation"
MISSION = ("steps", "seed")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "batch_size", "width", "eval_every")


def estimate(runs: Sequence[Run]) -> float:
    config, depths = runs[0].request.config, tuple(run.request.config.depth for run in runs)
    return probe_seconds(JobRequest("estimate", config, "lab.jobs:estimate_run", (depths, "train"), store=False))


def runs_for(config: ExperimentConfig, depths: Sequence[int]) -> list[Run]:
    """One pair per depth, cached under the engine's own "train" kind (the Gradient Flow page shares them)."""
    runs = []
    for depth in sorted(depths):
        request = JobRequest("train", config.replace(depth=depth), "lab.jobs:train_run")
        runs.append(Run(request, tag=lambda rs, depth=depth: E.tagged(rs, depth=depth), step_records=2 * config.steps))
    return runs


def verdict_lines(log: E.ExperimentLog) -> list[str]:
    """The measured story in numbers, or what is missing for one."""
    final = log.final_frame()
    verdict = E.degradation_verdict(final)
    if verdict is None:
        return []
    errors = final.set_index("run")["train_error"]
    s, d = verdict.shallow, verdict.deep
    lines = [
        f"**Plain:** {d} layers end at **{errors[f'plain-{d}']:.1%}** training error, {s} layers at "
        f"**{errors[f'plain-{s}']:.1%}**: "
        + (
            "the deeper plain net is worse, on its own training data. That is degradation: not overfitting."
            if verdict.plain_degrades
            else "no degradation at these settings."
        ),
        f"**Residual:** {d} layers **{errors[f'residual-{d}']:.1%}**, {s} layers **{errors[f'residual-{s}']:.1%}**: "
        + (
            "the shortcut removes most of the gap."
            if verdict.plain_degrades and verdict.residual_fixes
            else "compare with the plain gap above."
        ),
    ]
    if verdict.residual_gap > 0.005 and verdict.plain_degrades and verdict.residual_fixes:
        lines.append(
            "Honest detail: at this small budget the deeper residual net is still slightly behind the shallower one; "
            "in the paper (64k iterations) ResNet-56 ends *below* ResNet-20. What disappears is the large plain gap."
        )
    return lines


def draw(log: E.ExperimentLog, config: ExperimentConfig, key: str) -> None:
    """Curves, final error vs depth, init gradient ratios and the verdict: live while training and once at the end."""
    name = view_name(PAGE, config)
    if log.steps:
        show_figure(charts.degradation_curves(log.curve_frame(), log.eval_frame()), f"{name}_curves", f"{key}_curves")
    left, right = st.columns(2)
    final = log.final_frame()
    final = final[final["step"] == config.steps]
    with left:
        if not final.empty:
            show_figure(charts.final_error_vs_depth(final), f"{name}_final", f"{key}_final")
    with right:
        ratios = E.init_ratios(log)
        if not ratios.empty:
            show_figure(charts.init_ratio_figure(ratios), f"{name}_ratio", f"{key}_ratio")
    for line in verdict_lines(log):
        st.markdown(line)


st.title("Degradation: deeper plain nets train worse")
st.markdown(
    "He et al. (2015) found that adding layers to a plain network made its **training** error go up: not "
    "overfitting, an optimisation difficulty. Residual networks of the same depth don't suffer it. Press the button "
    "to train plain and residual nets of each depth here, on the same data, from the same kind of init, with the "
    "same minibatches and step budget."
)
check_url(DEFAULTS, PAGE, (*MISSION, *ADVANCED), lists={"depths": [str(d) for d in E.DEGRADATION_DEPTHS]})
with st.sidebar:
    depths = st.multiselect(
        "Depths to compare (weight layers)",
        E.DEGRADATION_DEPTHS,
        default=DEFAULT_DEPTHS,
        key="depths",
        bind="query-params",
        max_selections=4,
        help="He et al. Fig. 6 compares 20, 32, 44, 56 (and 110)",
    )
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    share_box(config, DEFAULTS)
if len(depths) < 2:
    st.warning(
        "Choose at least two depths in the sidebar: degradation is a comparison between depths.", icon=":material/warning:"
    )
    st.stop()
try:
    runs = runs_for(config, depths)
    log, finished = live_runs(
        runs, E.ExperimentLog, lambda log, key: draw(log, config, key), label="Train all depths", key="science", estimate=estimate
    )
except (ValueError, EngineStopped) as error:
    st.error(f"This experiment can't run: {describe(error)}", icon=":material/block:")
    st.stop()
if log is not None:
    draw(log, config, "final")
    if finished:
        experiment_downloads(log, config, f"{view_name(PAGE, config)}_depths-{'-'.join(map(str, sorted(depths)))}", "degradation")
stored_sweep_section(config, "depth", sorted(depths), view_name(PAGE, config))
with st.expander("What am I looking at?", expanded=log is None):
    st.markdown(
        "- **Curves:** one colour per depth; plain nets on the left, residual on the right. Solid lines are the "
        "training error (the minibatch error, averaged over 10 steps), dashed lines the error on held-out test images.\n"
        "- **Final training error vs depth:** degradation is the plain line rising with depth while the residual line stays low.\n"
        "- **Gradient ratio at initialisation:** the first hidden layer's gradient norm over the last one's. With BatchNorm "
        "the plain nets' ratio is far **above** 1: their gradients *grow* toward the input. So their trouble is **not** "
        "vanishing gradients, as He et al. already argued (and Yang et al. 2019 measured); it is an optimisation difficulty "
        "that the shortcuts remove.\n"
        "- Every number here is measured in this run; the paper trained CIFAR-10 for 64k iterations, this lab trains "
        "8x8 digits for a few hundred steps so it fits in a lesson."
    )
