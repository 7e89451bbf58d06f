"""Shortcuts & dimensions: where a block changes shape, what options A, B and C put on its shortcut.

Shapes, parameter counts and the shortcut descriptions are read from the built models; the
training comparison trains plain, A, B and C on the same batches (lab.jobs.shortcuts_run, in a worker); the
Block code is shown from the engine's own source via inspect, never a copy.
"""

from __future__ import annotations

import inspect

import pandas as pd
import streamlit as st

from lab import experiments as E
from lab import jobs
from lab import science_charts as charts
from resnet_core import models
from resnet_core.config import ExperimentConfig
from serving.jobs import JobRequest
from ui.controls import experiment_controls
from ui.echo import describe
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, compute, live_runs, probe_seconds
from ui.science import experiment_downloads
from ui.sweeps import stored_sweep_section

DEFAULTS = ExperimentConfig(depth=20, steps=100, measure_every=10, eval_every=20)
PAGE = "shortcuts"


def estimate(config: ExperimentConfig) -> float:
    return probe_seconds(JobRequest("estimate", config, "lab.jobs:estimate_run", ((config.depth,), "shortcuts"), store=False))


def structure(config: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-block shortcut table and the parameter counts (this lab's input and the paper's), from models built in a worker."""
    record = compute(JobRequest("structure", config, "lab.jobs:structure_run"), "building the nets")[-1]
    return jobs.frame(record), jobs.frame(record, "counts")


def shortcut_run(config: ExperimentConfig) -> Run:
    """All four nets in one job; the residual's `shortcut` field doesn't matter, so it is fixed for the cache key."""
    request = JobRequest("shortcuts", config.replace(shortcut="A"), "lab.jobs:shortcuts_run")
    four_nets = (config.replace(shortcut="A"), config.replace(shortcut="C"))  # plain + A, then B + C (C costs the most)
    return Run(request, step_records=4 * config.steps, costs_as=four_nets)


def draw(log: E.ExperimentLog, table: pd.DataFrame, name: str, key: str) -> None:
    """Curves, and gradient norms in the transition blocks against the rest."""
    show_figure(
        charts.run_error_figure(log.eval_frame(), "Training error: plain vs residual with options A, B, C"),
        f"{name}_error",
        f"{key}_error",
    )
    layers = log.layer_frame()
    if layers.empty:
        return
    show_figure(charts.transition_gradient_figure(E.transition_layers(layers, table)), f"{name}_grads", f"{key}_grads")
    summary = E.transition_gradient_summary(layers, table)
    low, high = summary["ratio"].min(), summary["ratio"].max()
    close = low >= 0.5 and high <= 2
    st.markdown(
        f"Measured: in the blocks that change shape the mean gradient norm is **{low:.2f}x to {high:.2f}x** that of "
        "the other blocks, across the four nets: "
        + (
            "close to the rest, so the shortcut option barely changes how much gradient reaches the transitions here."
            if close
            else "the transitions stand out; compare the options in the table."
        )
    )
    final = log.final_frame().set_index("run")["train_error"]
    summary = summary.assign(final_train_error=summary["run"].map(final)).rename(
        columns={
            "transition": "mean ||dL/dW||, transition blocks",
            "other": "mean ||dL/dW||, other blocks",
            "ratio": "transition / other",
            "final_train_error": "final training error",
        }
    )
    st.dataframe(
        summary, hide_index=True, column_config={"final training error": st.column_config.NumberColumn(format="percent")}
    )


st.title("Shortcuts & dimensions: options A, B and C")
st.markdown(
    "a[l+2] = g(z[l+2] + a[l]) needs z[l+2] and a[l] to have the same shape. Inside a stage they do. At the first "
    "block of stages 2 and 3 the block halves the map and doubles the channels, so the shortcut must change shape "
    "too. He et al. (Sec. 3.3) tried three ways: "
    + "; ".join(f"**{option}**: {text}" for option, text in models.SHORTCUT_OPTIONS.items())
    + "."
)
config = experiment_controls(
    DEFAULTS,
    page=PAGE,
    mission=("depth", "shortcut"),
    advanced=(
        "dataset",
        "norm",
        "activation",
        "init",
        "optimizer",
        "lr",
        "steps",
        "batch_size",
        "seed",
        "width",
        "measure_every",
        "eval_every",
    ),
)
with st.sidebar:
    share_box(config, DEFAULTS)
name = view_name(PAGE, config)
if config.arch != "cnn":
    st.warning(
        "Shape changes happen in the CNN (stride 2, more channels); the MLP keeps one width. Showing the CNN's "
        "stage transitions needs arch = cnn.",
        icon=":material/warning:",
    )
    st.stop()
try:
    table, counts = structure(config)
except (ValueError, EngineStopped) as error:
    st.error(f"Can't build this experiment: {describe(error)}", icon=":material/block:")
    st.stop()

st.header(f"The block, with option {config.shortcut}")
show_figure(charts.block_diagram(config.shortcut, False), f"{name}_block", "diagram_inside")
show_figure(charts.block_diagram(config.shortcut, True), f"{name}_transition_block", "diagram_transition")

st.header("Every block's shapes and shortcut")
st.caption("C x H x W measured by a forward pass through the built net. Transition blocks (shape changes) are marked.")
st.dataframe(
    table.assign(transition=table["transition"].map({True: "◆ yes", False: ""})),
    hide_index=True,
    column_order=["block", "stage", "in", "out", "transition", config.shortcut, *[o for o in "ABC" if o != config.shortcut]],
)
st.subheader("Parameters")
st.dataframe(
    counts,
    hide_index=True,
    column_config={c: st.column_config.NumberColumn(format="localized") for c in ("plain", "A", "B", "C")},
)
paper = counts.iloc[1]
st.markdown(
    f"At the paper's scale option A has exactly the plain net's parameters ({paper['A']:,}); B adds "
    f"**{paper['B'] - paper['A']:,}** (two projections with BN), C adds **{paper['C'] - paper['A']:,}**. He et al. "
    "report ImageNet top-1 error for 34 layers: plain 28.54, A 25.03, B 24.52, C 24.19: projections help a "
    "little, and are *not essential* for fixing degradation."
)

st.header("Train plain, A, B and C on the same budget")
log, finished = live_runs(
    [shortcut_run(config)],
    E.ExperimentLog,
    lambda log, key: draw(log, table, name, key),
    label="Train all four",
    estimate=lambda missing: estimate(config),
    key="shortcuts",
)
if log is not None:
    draw(log, table, name, "final")
    if finished:
        experiment_downloads(log, config, f"{name}_options", "shortcuts")
stored_sweep_section(config, "shortcut", models.SHORTCUT_OPTIONS, name)

with st.expander("The engine's code for the block and its shortcuts (read from resnet_core/models.py)"):
    for part in (models.Block, models.ZeroPadShortcut, models.ProjectionShortcut, models._shortcut):
        st.code(inspect.getsource(part), language="python")
