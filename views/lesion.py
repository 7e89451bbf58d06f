"""Lesion & paths (Veit, Wilber & Belongie 2016): delete blocks of a trained pair; the residual net's gradient per path length.

Thin: URL-bound widgets -> ExperimentConfig -> one job in a worker (lab.jobs.lesion_run: train, lesion, paths;
cached) -> lab.lesion tables and stories -> lab.lesion_charts figures.
"""

from __future__ import annotations

import json
from typing import Any

import streamlit as st

from lab import lesion as L
from lab import lesion_charts as charts
from lab.errors import error_method
from lab.pages import LESION
from resnet_core.config import SHORTCUT_OPTIONS, ExperimentConfig
from resnet_core.data import dataset_info
from resnet_core.results import json_safe
from resnet_core.specs import DRAWS, PATH_BATCH, PATH_DRAWS
from serving.job import JobRequest
from ui import shared
from ui.controls import experiment_controls
from ui.exports import share_box, show_figure, view_name
from ui.runner import Run
from ui.science import train_and_draw

DEFAULTS = LESION.defaults  # why these: lab/pages.py
PAGE = LESION.url_path
MISSION = ("depth", "shortcut", "block")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "steps", "batch_size", "seed", "width", "l2")


class StudyLog:
    """The job's records in arrival order (training records only count as progress here)."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []

    def add(self, record: dict[str, Any]) -> None:
        self.records.append(record)


def deletion_note(config: ExperimentConfig) -> str:
    """What a deletion computes in each net, including at the blocks that change the shape."""
    post = config.block == "post"
    note = (
        "**Deleting a block** removes its residual branch F and keeps the rest: the residual block then outputs "
        + (
            "g(shortcut(a[l])), the plain block (which has no shortcut) g(a[l])"
            if post
            else "shortcut(a[l]), the plain block a[l]"
        )
        + (", which is a[l] itself after a ReLU." if post and config.activation == "relu" else ".")
    )
    if config.arch == "cnn":
        note += (
            " The first blocks of stages 2 and 3 (diamonds) halve the map and double the channels, so a[l] can't pass "
            f"unchanged: there the residual net keeps its own shortcut (option {config.shortcut}: "
            f"{SHORTCUT_OPTIONS[config.shortcut]}) and the plain net gets option A's parameter-free map (subsample, zero-pad)."
        )
    return note


def draw(log: StudyLog, config: ExperimentConfig, key: str) -> None:
    """Deletion charts and story, then the path charts and story, from whatever records have arrived (a finished
    log's tables, figures and sentences once per server, ui.shared; `name` holds the settings they read)."""
    name = view_name(PAGE, config, DEFAULTS)
    frame = shared.derived(log, "lesion_frame", lambda: L.lesion_frame(log.records))
    chance = 1 - 1 / dataset_info(config).n_classes
    if (frame["mode"] == "single").any():
        show_figure(lambda: charts.single_deletion_figure(frame), f"{name}_single", f"{key}_single", source=log)
    if (frame["mode"] == "random").any():
        show_figure(lambda: charts.random_deletion_figure(L.by_k(frame), chance), f"{name}_random", f"{key}_random", source=log)
    verdict = shared.derived(log, "lesion_verdict", lambda: L.lesion_verdict(frame))
    if verdict is not None:
        for line in shared.derived(log, ("lesion_story", chance), lambda: L.lesion_story(verdict, chance)):
            st.markdown(line)
    paths = shared.derived(log, "path_frame", lambda: L.path_frame(log.records))
    if not paths.empty:
        st.subheader("Paths: where the residual net's gradient comes from")
        show_figure(lambda: charts.paths_figure(paths), f"{name}_paths", f"{key}_paths", source=log)
        if (path := shared.derived(log, "path_verdict", lambda: L.path_verdict(paths))) is not None:
            for line in shared.derived(log, "path_story", lambda: L.path_story(path)):
                st.markdown(line)


st.title("Lesion & paths: a residual net is an ensemble of shorter nets")
st.markdown(
    "Veit, Wilber & Belongie (2016) deleted blocks of trained networks at test time: a residual net barely noticed, "
    "a plain net broke. Their explanation: the shortcuts make 2^n paths of different lengths, and most of the gradient "
    "flows through the short ones. Press the button to train a plain and a residual net here, then delete their blocks "
    "one by one and k at a time, and measure the residual net's gradient path by path."
)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    share_box(config, DEFAULTS)
st.markdown(deletion_note(config))
st.caption(
    "A deletion changes what the later layers see, so every net, the intact one included, has its test error measured "
    f"{error_method(config.norm)}. "
    f"Random deletions: {DRAWS} draws per k (one for k = n), the same blocks in both nets. Paths: {PATH_DRAWS} random "
    f"paths per length, gradient at the first block's input on {PATH_BATCH} training images, BN in eval mode. "
    "The progress bar counts training steps; the deletions and paths are measured after the last one."
)
log, finished = train_and_draw(
    lambda: [
        Run(JobRequest("lesion", config, "lab.jobs:lesion_run"), step_records=2 * config.steps, costs_as=L.budget_pairs(config))
    ],
    StudyLog,
    lambda log, key: draw(log, config, key),
    label="Train, then delete",
    key="lesion",
    shared_as=PAGE,
)
if finished:
    studies = [r for r in log.records if r["kind"] in ("lesion", "paths")]
    st.download_button(
        "Download JSON (every deletion and path length)",
        json.dumps(json_safe({"config": config.to_params(include_defaults=True), "records": studies}), indent=1),
        file_name=f"{view_name(PAGE, config, DEFAULTS)}.json",
        mime="application/json",
        icon=":material/download:",
        on_click="ignore",
    )
