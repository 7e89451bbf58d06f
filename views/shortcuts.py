"""Shortcuts & dimensions: where a block changes shape, what options A, B and C put on its shortcut.

Shapes, parameter counts and the shortcut descriptions are read from the built models; the
training comparison trains the plain/residual pair for each option and seed on the same batches (train jobs, in workers); the
Block code is shown from the engine's own source file, read here (never a copy, and without loading torch).
"""

from __future__ import annotations

import ast
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import streamlit as st

from lab import pages
from lab import science_charts as charts
from lab import shortcuts as S
from lab.errors import error_method
from lab.spread import error_bands
from lab.style import COLORS
from resnet_core.config import SHORTCUT_OPTIONS, SHORTCUTS, ExperimentConfig
from resnet_core.results import ExperimentLog, table_frame, tag
from serving.job import JobRequest
from ui import shared
from ui.controls import experiment_controls
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, live_runs, shared_result, show_refusal
from ui.science import SEED_LISTS, experiment_downloads, seed_control
from ui.sweeps import stored_sweep_section
from ui.url import check_url

DEFAULTS = pages.SHORTCUTS.defaults  # why these: lab/pages.py
PAGE = pages.SHORTCUTS.url_path
MISSION = ("depth", "shortcut")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "steps", "batch_size", "seed", "width", "measure_every")
ENGINE = Path(__file__).resolve().parent.parent / "resnet_core"  # its code is shown, not imported: no torch here
# The definitions the code panel shows, by file: the block, its shortcuts, and the rule that picks one.
SHOWN = {"models.py": ("Block", "ZeroPadShortcut", "ProjectionShortcut", "_shortcut"), "structure.py": ("choose_shortcut",)}


@dataclass(frozen=True)
class Structure:
    """The per-block shortcut table and the parameter counts (this lab's input and the paper's): one object, so that
    every session of the server reads it, and draws what depends on it, once (ui.shared)."""

    table: pd.DataFrame
    counts: pd.DataFrame


def structure(config: ExperimentConfig) -> Structure:
    """The nets' structure, from models built in a worker."""
    request = JobRequest("structure", config, "lab.jobs:structure_run")
    return shared_result(
        request,
        "building the nets",
        lambda records: Structure(table_frame(records[-1]), table_frame(records[-1], "counts")),
        PAGE,
    )


def shortcut_runs(config: ExperimentConfig, seeds: Sequence[int]) -> list[Run]:
    """The engine's pair for each option and seed ("train" jobs, shared with the Gradient Flow page's cache)."""
    runs = []
    for seed in seeds:
        for option in SHORTCUTS:
            request = JobRequest("train", config.replace(shortcut=option, seed=seed), "lab.jobs:train_run")
            runs.append(Run(request, tag=lambda rs, o=option, s=seed: tag(rs, seed=s, option=o), step_records=2 * config.steps))
    return runs


def draw(log: ExperimentLog, built: Structure, name: str, key: str) -> None:
    """Curves (seed mean and range), gradient norms in the transition blocks against the rest, the measured comparison.

    A finished log is the server's one copy: with the structure (`source`), its frames, figures and sentences are built
    once for every session (ui.shared); `name` holds the settings they read."""
    source = (log, built)
    evals = shared.derived(source, "eval_frame", log.eval_frame)
    if evals.empty:
        return
    style = {net: (COLORS["plain" if net == "plain" else "residual"], charts.OPTION_DASHES.get(net, "solid")) for net in S.NETS}
    show_figure(
        lambda: error_bands(S.options_frame(evals), "net", style, "Training error: plain vs residual with options A, B, C"),
        f"{name}_error",
        f"{key}_error",
        source=source,
    )
    layers = shared.derived(source, "transition_layers", lambda: _transition_layers(log, built.table))
    if layers.empty:
        return
    show_figure(lambda: charts.transition_gradient_figure(layers), f"{name}_grads", f"{key}_grads", source=source)
    summary = shared.derived(source, "summary", lambda: S.transition_gradient_summary(layers))
    low, high = summary["ratio"].min(), summary["ratio"].max()
    close = low >= 0.5 and high <= 2
    st.markdown(
        f"Measured: in the blocks that change shape the mean gradient norm is **{low:.2f}x to {high:.2f}x** that of "
        "the other blocks, across the four nets (means over steps and seeds): "
        + (
            "close to the rest, so the shortcut option barely changes how much gradient reaches the transitions here."
            if close
            else "the transitions stand out; compare the options in the table."
        )
    )
    for line in shared.derived(source, "option_lines", lambda: S.option_lines(log.final_frame())):
        st.markdown(line)
    st.dataframe(
        summary.rename(
            columns={
                "transition": "mean ||dL/dW||, transition blocks",
                "other": "mean ||dL/dW||, other blocks",
                "ratio": "transition / other",
            }
        ),
        hide_index=True,
    )


def _transition_layers(log: ExperimentLog, table: pd.DataFrame) -> pd.DataFrame:
    """The four nets' per-layer gradients with the blocks that change shape marked (empty before any measurement)."""
    layers = log.layer_frame()
    return layers if layers.empty else S.transition_layers(S.options_frame(layers), table)


st.title("Shortcuts & dimensions: options A, B and C")
st.markdown(
    "a[l+2] = g(z[l+2] + a[l]) needs z[l+2] and a[l] to have the same shape. Inside a stage they do. At the first "
    "block of stages 2 and 3 the block halves the map and doubles the channels, so the shortcut must change shape "
    "too. He et al. (Sec. 3.3) tried three ways: "
    + "; ".join(f"**{option}**: {text}" for option, text in SHORTCUT_OPTIONS.items())
    + "."
)
check_url(DEFAULTS, PAGE, (*MISSION, *ADVANCED), lists=SEED_LISTS)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    seeds = seed_control(config)
    share_box(config, DEFAULTS)
name = view_name(PAGE, config, DEFAULTS)
if config.arch != "cnn":
    st.warning(
        "Shape changes happen in the CNN (stride 2, more channels); the MLP keeps one width. Showing the CNN's "
        "stage transitions needs arch = cnn.",
        icon=":material/warning:",
    )
    st.stop()
try:
    built = structure(config)
except (ValueError, EngineStopped) as error:
    show_refusal(error)
    st.stop()
table, counts = built.table, built.counts

st.header(f"The block, with option {config.shortcut}")
show_figure(lambda: charts.block_diagram(config.shortcut, False), f"{name}_block", "diagram_inside", source=built)
show_figure(lambda: charts.block_diagram(config.shortcut, True), f"{name}_transition_block", "diagram_transition", source=built)

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
st.caption(
    "One plain/residual pair per option and seed, on the same batches: the plain net of a seed is the same in each pair. "
    "Differences between A, B and C are small, so the sentences say on how many seeds each holds. Training error is "
    f"measured {error_method(config.norm)}."
)
log, finished = live_runs(
    shortcut_runs(config, seeds),
    ExperimentLog,
    lambda log, key: draw(log, built, name, key),
    label="Train all four",
    key="shortcuts",
    shared_as=PAGE,
)
if log is not None:
    draw(log, built, name, "final")
    if finished:
        experiment_downloads(log, config, f"{name}_options", "shortcuts")
stored_sweep_section(config, "shortcut", SHORTCUT_OPTIONS, name)

# Drawn only when asked for: st.code, even in a closed expander, made every visitor of the page download and run
# Streamlit's 1.56 MB code highlighter before the charts showed (benchmarks/RESULTS.md, 2026-11-24).
if st.toggle("Show the engine's code for the block and its shortcuts (resnet_core/models.py and structure.py)", key="code"):
    for file, names in SHOWN.items():
        source = (ENGINE / file).read_text()
        parts = {node.name: node for node in ast.parse(source).body if isinstance(node, ast.ClassDef | ast.FunctionDef)}
        for name in names:
            st.code(ast.get_source_segment(source, parts[name]), language="python")
