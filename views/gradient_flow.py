"""Gradient flow, the landing page: plain vs residual gradients at initialisation, instantly; then live training.

Thin by design: URL-bound widgets (ui.controls) -> ExperimentConfig -> engine (measure_init / train,
through the shared result cache) -> chart builders (lab.charts).
"""

from __future__ import annotations

import streamlit as st

from lab import charts
from resnet_core.boundary import decision_grid, has_boundary
from resnet_core.config import ExperimentConfig
from resnet_core.models import Stack
from resnet_core.results import RunLog
from resnet_core.training import measure_init
from serving import cache
from ui.controls import experiment_controls
from ui.echo import describe
from ui.exports import device_line, download_buttons, share_box, show_figure, view_name
from ui.runner import describe_outcome, live_training

DEFAULTS = ExperimentConfig(depth=56)  # the page's own default: deep enough that plain and residual differ sharply
PAGE = "gradient-flow"


@st.cache_data(max_entries=128, show_spinner=False)
def init_records(config: ExperimentConfig) -> list[dict]:
    """Step-0 records, from this process's memory, else the shared disk cache, else measured once."""
    return cache.get_or_compute("init", config, lambda: list(measure_init(config)))


def store_boundary(config: ExperimentConfig, models: dict[str, Stack]) -> None:
    """After training on a 2-D set: keep each net's decision boundary for redraws and shared links."""
    if has_boundary(config):
        cache.put("boundary", config, decision_grid(models, config))


def draw_flow(log: RunLog, step: int, name: str, key: str) -> None:
    """Per-layer weight-gradient and per-block activation-gradient charts side by side, at one step."""
    layer_col, block_col = st.columns(2)
    with layer_col:
        show_figure(charts.layer_gradient_figure(log.layer_frame(), step), f"{name}_layers_step-{step}", f"{key}_layers")
    with block_col:
        show_figure(charts.block_gradient_figure(log.block_frame(), step), f"{name}_blocks_step-{step}", f"{key}_blocks")


def draw_training(log: RunLog, key: str) -> None:
    """Curves and the layer x step heatmap: drawn live during training and once more at the end."""
    name = view_name(PAGE, log.config)
    loss_col, error_col = st.columns(2)
    with loss_col:
        show_figure(charts.loss_figure(log.curve_frame()), f"{name}_loss", f"{key}_loss")
    with error_col:
        show_figure(charts.error_figure(log.curve_frame(), log.eval_frame()), f"{name}_error", f"{key}_error")
    show_figure(charts.gradient_heatmap(log.layer_frame()), f"{name}_heatmap", f"{key}_heatmap")


def draw_finished(log: RunLog) -> None:
    """The trained (or stopped) run: outcome, curves, heatmap, scrubbable per-layer chart, boundary, exports."""
    name = view_name(PAGE, log.config)
    if reading := charts.training_reading(log):
        st.markdown(f"#### {reading}")
    for line in describe_outcome(log):
        if "diverged" in line:
            st.warning(line, icon=":material/warning:")
        else:
            st.info(line, icon=":material/stop_circle:")
    draw_training(log, "final")
    steps = sorted(log.layer_frame()["step"].unique().tolist())
    if len(steps) > 1:
        step = st.select_slider(
            "Scrub through training: per-layer gradients at step",
            steps,
            value=steps[-1],
            key="at_step",
            bind="query-params",
            format_func=lambda s: "init" if s == 0 else str(s),
        )
        st.markdown(f"**{charts.gradient_reading(log, step)}**")
        draw_flow(log, step, name, "scrub")
    grid = cache.get("boundary", log.config) if has_boundary(log.config) else None
    if grid is not None:
        show_figure(charts.boundary_figure(grid), f"{name}_boundary", "boundary")
    download_buttons(log, name, "train")
    st.caption(f"Training {device_line(log)} · {log.config.steps} steps, batch {log.config.batch_size}.")


st.title("Gradient flow: plain vs residual")
config = experiment_controls(DEFAULTS, page="gradient_flow")
with st.sidebar:
    share_box(config, DEFAULTS)

try:
    init = RunLog(config).extend(init_records(config))
except ValueError as error:
    st.error(f"Can't build this experiment: {describe(error)}", icon=":material/block:")
    st.stop()

name = view_name(PAGE, config)
st.markdown(f"#### {charts.gradient_reading(init)}")
draw_flow(init, 0, name, "init")
with st.expander("What am I looking at?", expanded=True):
    for paragraph in charts.flow_story(init):
        st.markdown(paragraph)
    st.markdown("L2 acts on the weight updates, so it changes nothing at initialisation: train to see what it does.")
    st.caption(
        f"Depth {config.depth} ({config.blocks} blocks), {config.arch} on {config.dataset}, "
        f"norm {config.norm}, init {config.init}; measured {device_line(init)}."
    )
download_buttons(init, f"{name}_init", "init")

st.header("Train both nets")
st.caption(
    f"{config.steps} steps of {config.optimizer} (lr {config.lr:g}, batch {config.batch_size}) on the same "
    "minibatches from the same initial weights. Results are cached: an identical setting redraws instantly."
)
trained = live_training(config, draw_training, on_finish=store_boundary)
if trained is not None:
    draw_finished(trained)
