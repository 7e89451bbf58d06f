"""Shortcuts & dimensions: where a block changes shape, what options A, B and C put on its shortcut.

Shapes, parameter counts and the shortcut descriptions are read from the built models; the
training comparison trains plain, A, B and C on the same batches (experiments.train_models); the
Block code is shown from the engine's own source via inspect, never a copy.
"""

from __future__ import annotations

import inspect

import pandas as pd
import streamlit as st

from lab import experiments as E
from lab import science_charts as charts
from resnet_core import models
from resnet_core.config import ExperimentConfig
from ui.controls import experiment_controls
from ui.echo import describe
from ui.exports import share_box, show_figure, view_name
from ui.science import Job, experiment_downloads, live_jobs

DEFAULTS = ExperimentConfig(depth=20, steps=100, measure_every=10, eval_every=20)
PAGE = "shortcuts"
PAPER_INPUT = ((3, 32, 32), 10)  # CIFAR-10, as in He et al. Sec. 4.2


@st.cache_data(ttl=600, show_spinner="Timing a short probe run to estimate how long this takes…")
def estimate(config: ExperimentConfig) -> float:
    return E.estimate_seconds(config, [config.depth], runner=E.shortcut_records)


@st.cache_data(max_entries=32, show_spinner=False)
def structure(config: ExperimentConfig) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The per-block shortcut table and the parameter counts (this lab's input and the paper's), from built models."""
    counts = pd.DataFrame(
        [
            {"model": f"this lab: {config.dataset}, width {config.width}", **E.parameter_counts(config)},
            {"model": "He et al. CIFAR-10: 3x32x32, width 16", **E.parameter_counts(config.replace(width=16), *PAPER_INPUT)},
        ]
    )
    return E.transition_table(config), counts


def shortcut_job(config: ExperimentConfig) -> Job:
    """All four nets in one job; the residual's `shortcut` field doesn't matter, so it is fixed for the cache key."""
    key_config = config.replace(shortcut="A")
    return Job("shortcuts", key_config, compute=lambda: E.shortcut_records(key_config), tag=iter, nets=4)


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
    "too. He et al. (Sec. 3.3) tried three ways: **A** zero-pads the extra channels (no parameters), **B** uses a "
    "learned 1x1 projection W_s only there, **C** uses projections on every shortcut."
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
except ValueError as error:
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
log, finished = live_jobs(
    [shortcut_job(config)],
    lambda log, key: draw(log, table, name, key),
    label="Train all four",
    estimate=lambda missing: estimate(config),
    key="shortcuts",
)
if log is not None:
    draw(log, table, name, "final")
    if finished:
        experiment_downloads(log, config, f"{name}_options", "shortcuts")

with st.expander("The engine's code for the block and its shortcuts (read from resnet_core/models.py)"):
    for part in (models.Block, models.ZeroPadShortcut, models.ProjectionShortcut, models._shortcut):
        st.code(inspect.getsource(part), language="python")
