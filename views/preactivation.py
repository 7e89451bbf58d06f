"""Pre-activation (He et al. 2016): the same plain and residual nets with the post- and the pre-activation unit.

Thin: URL-bound widgets -> ExperimentConfig -> the init measurement of each unit in a worker (lab.jobs.init_run,
cached and shared with the Gradient Flow page) -> lab.preactivation table, verdict and figure; then, on the
button, one training job per unit and seed (lab.jobs.train_run, cached) -> lab.preactivation_training.
"""

from __future__ import annotations

import streamlit as st

from lab import preactivation as P
from lab import preactivation_training as T
from lab.pages import PREACTIVATION
from resnet_core.config import BLOCKS, ExperimentConfig
from resnet_core.results import ExperimentLog, RunLog, tag
from serving.job import JobRequest
from serving.sweep import sweep_command
from ui import shared
from ui.controls import experiment_controls
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, shared_result, show_refusal
from ui.science import SEED_LISTS, experiment_downloads, seed_control, train_and_draw
from ui.sweeps import show_command
from ui.url import check_url

DEFAULTS = PREACTIVATION.defaults  # why these: lab/pages.py
PAGE = PREACTIVATION.url_path
MISSION = ("depth", "activation", "norm")
ADVANCED = ("arch", "dataset", "init", "shortcut", "optimizer", "lr", "steps", "batch_size", "seed", "width")


def training_runs(config: ExperimentConfig, seeds: list[int]) -> list[Run]:
    """One pair per unit and seed, cached under the engine's own "train" kind (the Gradient Flow page shares them)."""
    return [
        Run(
            JobRequest("train", config.replace(block=unit, seed=seed), "lab.jobs:train_run"),
            tag=lambda rs, u=unit, s=seed: tag(rs, block=u, seed=s),
            step_records=2 * config.steps,
        )
        for unit in BLOCKS
        for seed in seeds
    ]


def draw_training(log: ExperimentLog, config: ExperimentConfig, key: str) -> None:
    """Loss curves while training; the final errors and the per-seed verdict once runs finish (a finished log's
    figures and sentences once per server, ui.shared)."""
    name = view_name(PAGE, config, DEFAULTS)
    curves = shared.derived(log, "curve_frame", log.curve_frame)
    if not curves.empty:
        show_figure(lambda: T.loss_curves(curves), f"{name}_training_loss", f"{key}_loss", source=log)
    final = shared.derived(log, "final_frame", log.final_frame)
    if not final.empty:
        show_figure(lambda: T.final_error_figure(final), f"{name}_training_final", f"{key}_final", source=log)
    for line in shared.derived(log, "story", lambda: T.training_story(T.training_verdicts(final))):
        st.markdown(line)


st.title("Pre-activation: take g off the shortcut path")
st.markdown(
    "In He et al.'s original unit the shortcut is added **before** the block's last nonlinearity, "
    "a[l+2] = g(z[l+2] + a[l]), so every block's g also sits on the shortcut path. Their follow-up (He et al. 2016, "
    "*Identity Mappings in Deep Residual Networks*) moves BN and g in front of each weight layer: "
    "a[l+2] = a[l] + W2 g(BN(W1 g(BN(a[l])))), with one BN and g after the last block. Between the stem and that "
    "head the shortcut path is then additions only. Both units are measured here on the same weights at initialisation, "
    "then trained side by side."
)
check_url(DEFAULTS, PAGE, (*MISSION, *ADVANCED), lists=SEED_LISTS)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    seeds = seed_control(config)
    share_box(config, DEFAULTS)
try:
    logs = {
        unit: shared_result(
            JobRequest("init", config.replace(block=unit), "lab.jobs:init_run"),
            f"measuring the {P.UNIT_NAMES[unit]} nets",
            RunLog(config.replace(block=unit)).extend,
            PAGE,
        )
        for unit in BLOCKS
    }
except (ValueError, EngineStopped) as error:
    show_refusal(error)
    st.stop()
units = tuple(logs.values())  # what the table, figure and verdict are drawn from: once per server (ui.shared)
frame = shared.derived(units, "block_gradients", lambda: P.block_gradients(logs))
show_figure(lambda: P.unit_figure(frame), f"{view_name(PAGE, config, DEFAULTS)}_units", "units", source=units)
verdict = shared.derived(units, "unit_verdict", lambda: P.unit_verdict(frame))
if verdict is not None:
    for line in shared.derived(units, "unit_story", lambda: P.unit_story(verdict)):
        st.markdown(line)
st.subheader(T.question(config))
st.markdown(T.method_note(config))
log, finished = train_and_draw(
    lambda: training_runs(config, seeds),
    ExperimentLog,
    lambda log, key: draw_training(log, config, key),
    label="Train both units",
    key="science",
    shared_as=PAGE,
)
if finished:
    experiment_downloads(log, config, f"{view_name(PAGE, config, DEFAULTS)}_units", "preactivation")
st.markdown("The same runs from the command line (stored in the cache this page reads):")
show_command(sweep_command([run.request.config for run in training_runs(config, seeds)]))
st.caption(
    "The paper's figures, not this lab's: He et al. 2016 trained the units on CIFAR-10 for 64k iterations, "
    "ResNet-110 6.61% (post) vs 6.37% (pre) test error, ResNet-1001 7.61% vs 4.92%. The numbers above are this "
    "page's own, measured on the settings in the sidebar."
)
