"""Gradient flow, the landing page: plain vs residual gradients at initialisation, instantly; then live training.

Thin by design: URL-bound widgets (ui.controls) -> ExperimentConfig -> jobs in worker processes
(lab.jobs: init_run, train_run; through the shared result cache) -> chart builders (lab.gradient_flow_charts).
"""

from __future__ import annotations

import streamlit as st

from lab import axes, optimiser, replay
from lab import gradient_flow as readings
from lab import gradient_flow_charts as charts
from lab.errors import error_method
from lab.pages import GRADIENT_FLOW
from resnet_core.config import ExperimentConfig
from resnet_core.results import RunLog
from serving.cost import budget_message
from serving.job import JobRequest
from ui import host, pin, shared
from ui.controls import experiment_controls
from ui.exports import device_line, download_buttons, share_box, show_figure, view_name
from ui.phone import ACTION_LAST, ACTION_LATER
from ui.runner import EngineStopped, Run, cached_records, live_runs, shared_result, show_refusal

DEFAULTS = GRADIENT_FLOW.defaults  # why these: lab/pages.py
PAGE = GRADIENT_FLOW.url_path


def describe_outcome(log: RunLog) -> list[str]:
    """One line per notable end: a diverged net (with its step) or a run stopped early.

    "Stopped" is read from the records (no `done` record), never from how the runner got the log: a stopped
    retrain must not relabel a finished run (issue 14).
    """
    lines = [
        f"{variant} diverged at step {step}: its loss stopped being a finite number; its charts end there."
        for variant, step in sorted(log.diverged.items())
    ]
    if not log.finished:
        lines.append(f"Stopped at step {log.last_step + 1} of {log.config.steps}; the charts show what was computed.")
    return lines


def draw_flow(log: RunLog, step: int, name: str, key: str) -> None:
    """Per-layer weight-gradient and per-block activation-gradient charts side by side, at one step."""
    layer_col, block_col = st.columns(2)
    with layer_col:
        show_figure(
            lambda: charts.layer_gradient_figure(log.layer_frame(), step),
            f"{name}_layers_step-{step}",
            f"{key}_layers",
            source=log,
        )
    with block_col:
        show_figure(
            lambda: charts.block_gradient_figure(log.block_frame(), step),
            f"{name}_blocks_step-{step}",
            f"{key}_blocks",
            source=log,
        )


def draw_training(log: RunLog, key: str) -> None:
    """Curves and the layer x step heatmap: drawn live during training and once more at the end."""
    name = view_name(PAGE, log.config, DEFAULTS)
    loss_col, error_col = st.columns(2)
    with loss_col:
        show_figure(lambda: charts.loss_figure(log.curve_frame()), f"{name}_loss", f"{key}_loss", source=log)
    with error_col:
        show_figure(lambda: charts.error_figure(log.curve_frame(), log.eval_frame()), f"{name}_error", f"{key}_error", source=log)
    show_figure(lambda: charts.gradient_heatmap(log.layer_frame()), f"{name}_heatmap", f"{key}_heatmap", source=log)


def draw_signal(log: RunLog, name: str, key: str) -> None:
    """The forward signal per block (Brock et al. 2021's signal propagation), at init and the last measured step."""
    blocks = shared.derived(log, "block_frame", log.block_frame)
    steps = sorted({0, int(blocks["step"].max())}) if not blocks.empty else []
    if steps:
        show_figure(lambda: charts.signal_figure(blocks, steps), f"{name}_signal", f"{key}_signal", source=log)
        for line in shared.derived(log, ("signal_reading", steps[-1]), lambda: readings.signal_reading(log, steps[-1])):
            st.markdown(line)


def draw_padding_comparison(log: RunLog) -> None:
    """Without BN: the same net at init with the other padding and input size, so the page shows what sets the ratio."""
    if not st.toggle("Compare: the same net with the other padding and input size", value=True, key="compare_padding"):
        return
    others = []
    for counterpart in readings.padding_counterparts(log.config):
        label, other = counterpart.label, counterpart.config
        # Only the init measurement runs: priced as a zero-step run (the pair built, measured once, evaluated once).
        if (too_large := budget_message(other.replace(steps=0), host.limits())) is not None:
            st.caption(f"With {label}: not measured on this host ({too_large}).")
            continue
        request, what = JobRequest("init", other, "lab.jobs:init_run"), f"measuring the same net with {label}"
        others.append((counterpart, shared_result(request, what, RunLog(other).extend, PAGE)))
    for line in readings.padding_story(log, others):
        st.markdown(line)


def draw_optimiser(log: RunLog, name: str) -> None:
    """What the optimiser did with these gradients: relative updates at init and over steps, ||W|| of the first layer."""
    frame = shared.derived(log, "optimiser_frame", lambda: optimiser.optimiser_frame(log.layer_frame(), log.config.lr))
    if frame.empty:
        return
    st.subheader("What the optimiser does with these gradients")
    st.caption(
        "With BatchNorm after a layer, ‖∂L/∂W‖ alone says little: scaling W changes nothing the net computes and divides "
        "the gradient by the same factor. What matters is the update relative to the weight, lr·‖g‖/‖W‖, and the "
        "effective gradient ‖g‖·‖W‖, which that scaling leaves unchanged."
    )
    left, right = st.columns(2)
    with left:
        show_figure(lambda: optimiser.layer_figure(frame), f"{name}_relative_update", "relative_update", source=log)
    with right:
        show_figure(lambda: optimiser.weight_norm_figure(frame), f"{name}_first_weight", "first_weight", source=log)
    show_figure(lambda: optimiser.layer_figure(frame, "effective_grad"), f"{name}_effective_grad", "effective_grad", source=log)
    show_figure(
        lambda: charts.gradient_heatmap(frame, "relative_update"), f"{name}_relative_heatmap", "relative_heatmap", source=log
    )
    for line in shared.derived(log, "optimiser_story", lambda: optimiser.optimiser_story(frame, log.config.norm)):
        st.markdown(line)


def train_request(config: ExperimentConfig) -> JobRequest:
    return JobRequest("train", config, "lab.jobs:train_run")


def draw_beside(pinned: RunLog, log: RunLog) -> None:
    """The pinned run (left) beside this one (right), each pair of charts on one y-range: heights compare across runs."""
    st.subheader("Side by side: the pinned run and this one")
    builders = {
        "loss": lambda run: charts.loss_figure(run.curve_frame()),
        "error": lambda run: charts.error_figure(run.curve_frame(), run.eval_frame()),
        "layers": lambda run: charts.layer_gradient_figure(run.layer_frame(), int(run.layer_frame()["step"].max())),
    }
    left, right = st.columns(2)
    left.markdown(f"**Pinned:** {pin.differences(pinned.config, log.config)}")
    right.markdown(f"**This run:** {pin.differences(log.config, pinned.config)}")
    for what, build in builders.items():
        figures = [build(pinned), build(log)]
        axes.share_y(figures)
        for column, run, fig, side in zip(st.columns(2), (pinned, log), figures, ("pinned", "current"), strict=True):
            with column:
                show_figure(fig, f"{view_name(PAGE, run.config, DEFAULTS)}_{what}", f"beside_{what}_{side}")


def draw_pinned(pinned: ExperimentConfig, log: RunLog) -> None:
    """The pinned run beside a finished one with other settings; the pinned run comes from the cache, as it was."""
    if pinned == log.config or not log.finished:
        return
    records = cached_records(train_request(pinned))
    if records is None:
        st.info(
            f"The pinned run ({pin.differences(pinned, log.config)}) is no longer in this lab's cache: train it again to compare.",
            icon=":material/push_pin:",
        )
        return
    draw_beside(RunLog(pinned).extend(records), log)


def draw_finished(log: RunLog) -> None:
    """The trained (or stopped) run: outcome, its replay (played and scrubbed in the browser), curves, heatmap, boundary."""
    name = view_name(PAGE, log.config, DEFAULTS)
    if reading := shared.derived(log, "training_reading", lambda: readings.training_reading(log)):
        st.markdown(f"#### {reading}")
    for line in describe_outcome(log):
        if "diverged" in line:
            st.warning(line, icon=":material/warning:")
        else:
            st.info(line, icon=":material/stop_circle:")
    if any(log.measured_steps(variant) for variant in log.meta):  # an engine lost before step 0's measurement: none
        speed = st.segmented_control("Replay speed", list(replay.SPEEDS), default="normal", key="replay_speed")
        ms_per_step = replay.SPEEDS[speed or "normal"]
        show_figure(lambda: replay.replay_figure(log, ms_per_step), f"{name}_replay", "replay", source=log, what=ms_per_step)
    draw_training(log, "final")
    if log.boundary is not None:
        show_figure(lambda: charts.boundary_figure(log.boundary), f"{name}_boundary", "boundary", source=log)
    draw_signal(log, name, "trained")
    draw_optimiser(log, name)
    download_buttons(log, name, "train")
    st.caption(f"Training {device_line(log)} · {log.config.steps} steps, batch {log.config.batch_size}.")


st.title("Gradient flow: plain vs residual")
config = experiment_controls(DEFAULTS, page=PAGE)
with st.sidebar:
    share_box(config, DEFAULTS)

try:
    # In a block of its own: the progress line shown only while measuring must not shift the keyed blocks below, or
    # the next run draws Train and Stop a second time (a stale copy) while it trains.
    with st.container():
        request = JobRequest("init", config, "lab.jobs:init_run")
        init = shared_result(request, "measuring the gradients at initialisation", RunLog(config).extend, PAGE)
except EngineStopped as stopped:
    show_refusal(stopped, "measurement")
    st.stop()

name = view_name(PAGE, config, DEFAULTS)
st.markdown(f"#### {shared.derived(init, 'gradient_reading', lambda: readings.gradient_reading(init))}")
with st.container(key=ACTION_LATER):  # on a phone and a projector below Train (ui/phone.py): Train on the first screen
    draw_flow(init, 0, name, "init")
    download_buttons(init, f"{name}_init", "init")
training = st.container()  # Train right under the charts, above their explanation (phone, projector: under the reading)
with st.container(key=ACTION_LAST):
    with st.expander("What am I looking at?", expanded=True):
        for paragraph in shared.derived(init, "flow_story", lambda: readings.flow_story(init)):
            st.markdown(paragraph)
        if config.arch == "cnn" and config.norm == "none":
            draw_padding_comparison(init)
        st.markdown("L2 acts on the weight updates, so it changes nothing at initialisation: train to see what it does.")
        st.caption(
            f"Depth {config.depth} ({config.blocks} blocks), {config.arch} on {config.dataset}{readings.input_phrase(config)}, "
            f"norm {config.norm}, init {config.init}; {device_line(init)}."
        )
    with st.expander("Forward signal per block (signal propagation)"):
        draw_signal(init, name, "init")

with training:  # filled after the explanation is on screen, so it is readable while the nets train
    st.header("Train both nets")
    st.caption(
        f"{config.steps} steps of {config.optimizer} (lr {config.lr:g}, batch {config.batch_size}) on the same "
        "minibatches from the same initial weights. The thin error curves are each minibatch's; the training and test "
        f"errors are measured {error_method(config.norm)}. Results are cached: an identical setting redraws instantly."
    )
    run = Run(train_request(config), step_records=2 * config.steps)
    trained, _ = live_runs(
        [run],
        lambda: RunLog(config),
        draw_training,
        label="Train both nets",
        key="train",
        lesson_config=config,
        shared_as=PAGE,
    )
    pinned = pin.pin_bar(config, DEFAULTS, finished=trained is not None and trained.finished)
    if trained is not None and trained.meta:
        if pinned is not None:
            draw_pinned(pinned, trained)
        draw_finished(trained)
