"""Identity & L2: why a residual block can always fall back to the identity, and a plain block can't.

Two measured demonstrations (thin page: widgets -> experiments -> science_charts):
1. Scale every block's last layer by alpha. At alpha = 0 each identity residual block outputs
   exactly its input, the plain stack's output is a constant; then both train from there.
2. An L2 sweep: after training, branch size, weight norms and response std, plain vs residual.
"""

from __future__ import annotations

from collections.abc import Sequence

import pandas as pd
import streamlit as st

from lab import experiments as E
from lab import jobs
from lab import science_charts as charts
from resnet_core.config import ExperimentConfig
from resnet_core.models import SHORTCUT_OPTIONS
from serving.jobs import JobRequest
from ui.controls import check_url, experiment_controls
from ui.echo import describe
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, compute, live_runs, probe_seconds
from ui.science import experiment_downloads

DEFAULTS = ExperimentConfig(depth=20, steps=150, measure_every=150, eval_every=25)
ALPHAS = (1.0, 0.75, 0.5, 0.25, 0.1, 0.01, 0.0)
DEFAULT_L2S = [0.0, 1e-3, 1e-2, 3e-2, 0.1]
MOST_L2S = 6  # strengths one sweep trains: the multiselect's cap, and check_url's
L2_LABELS = [charts.l2_label(v) for v in E.L2_SWEEP]  # the sweep's options as its multiselect writes them into the URL
PAGE = "identity"
MISSION = ("depth", "shortcut")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "steps", "batch_size", "seed", "width", "eval_every")


def estimate(config: ExperimentConfig, runs: int) -> float:
    """The same pair at each strength: one probe suffices."""
    return probe_seconds(JobRequest("estimate", config, "lab.jobs:estimate_run", ((config.depth,), "train"), store=False)) * runs


def estimate_alpha(config: ExperimentConfig, alpha: float) -> float:
    return probe_seconds(JobRequest("estimate", config, "lab.jobs:estimate_run", ((config.depth,), "alpha", alpha), store=False))


def identity_table(config: ExperimentConfig, alpha: float) -> tuple[pd.DataFrame, dict[str, float]]:
    """The measured identity check at this alpha, computed in a worker and cached."""
    request = JobRequest(f"identity-{alpha!r}", config, "lab.jobs:identity_run", (alpha,))
    record = compute(request, "measuring each block's output")[-1]
    return jobs.frame(record), record["spread"]


def alpha_run(config: ExperimentConfig, alpha: float) -> Run:
    request = JobRequest(f"alpha-{alpha!r}", config, "lab.jobs:alpha_run", (alpha,))
    return Run(request, step_records=2 * config.steps)  # its records come tagged


def l2_runs(config: ExperimentConfig, strengths: Sequence[float]) -> list[Run]:
    runs = []
    for l2 in sorted(strengths):
        request = JobRequest("train", config.replace(l2=float(l2)), "lab.jobs:train_run")
        runs.append(Run(request, tag=lambda rs, l2=float(l2): E.tagged(rs, l2=l2), step_records=2 * config.steps))
    return runs


def identity_section(config: ExperimentConfig, alpha: float) -> None:
    """The measured check at this alpha, then training both nets from the scaled weights."""
    check, spread = identity_table(config, alpha)
    residual = check[check["run"] == "residual"]
    identity = residual[residual["identity_block"]]
    transition = residual[~residual["identity_block"]]
    worst = float(identity["max_diff_input"].max()) if len(identity) else float("nan")
    left, middle, right = st.columns(3)
    left.metric(
        "residual: max |a[l+2] − a[l]|",
        "0.0 exactly" if worst == 0 else f"{worst:.3g}",
        border=True,
        help=f"over the {len(identity)} residual blocks whose shortcut is the identity, on one minibatch",
    )
    middle.metric(
        "plain: output std over the batch",
        f"{spread['plain']:.3g}",
        border=True,
        help="largest std over the batch of any logit: 0 means every image gets the same output",
    )
    right.metric("residual: output std over the batch", f"{spread['residual']:.3g}", border=True)
    if alpha == 0:
        st.success(
            f"Measured at α = 0: every identity residual block returns its input exactly (max difference {worst!r}), "
            f"while the plain stack outputs the same thing for every image (std {spread['plain']:.3g}).",
            icon=":material/check_circle:",
        )
    if len(transition):
        option = f"option {config.shortcut} ({SHORTCUT_OPTIONS[config.shortcut]})"
        diff = transition["max_diff_shortcut"].max()
        st.caption(
            f"The {len(transition)} transition blocks change the shape, so a[l+2] = a[l] can't hold there. With "
            f"{option} they output g(shortcut(a[l])); max |a[l+2] − shortcut(a[l])| = {diff:.3g}"
            + (
                " (zero padding keeps a ReLU output non-negative)."
                if config.shortcut == "A"
                else ": a projection's output can be negative, and the final ReLU cuts it, so these blocks are not the identity."
            )
        )
    if config.activation != "relu":
        st.warning(
            f"The identity argument needs g(a) = a for the block's input a, which holds for ReLU (a ≥ 0 after a ReLU). "
            f"With {config.activation} it fails, as the measured difference shows. Choose relu to see it hold.",
            icon=":material/warning:",
        )
    show_figure(charts.block_output_figure(check), f"{view_name(PAGE, config)}_alpha-{alpha:g}_outputs", "alpha_outputs")
    with st.expander("Per-block measurements"):
        st.dataframe(check, hide_index=True)
    st.subheader(f"Training both nets from the α = {alpha:g} weights")
    log, finished = live_runs(
        [alpha_run(config, alpha)],
        E.ExperimentLog,
        lambda log, key: draw_alpha(log, key),
        label="Train from here",
        estimate=lambda missing: estimate_alpha(config, alpha),
        key="alpha",
    )
    if log is not None:
        draw_alpha(log, "alpha_final")
        if finished:
            experiment_downloads(log, config, f"{view_name(PAGE, config)}_alpha-{alpha:g}", "alpha")


def draw_alpha(log: E.ExperimentLog, key: str) -> None:
    show_figure(charts.run_error_figure(log.eval_frame(), "Training error after scaling the branches"), "alpha_curves", key)
    final = log.final_frame().set_index("run")
    if {"plain", "residual"} <= set(final.index):
        st.markdown(
            f"After {final.loc['plain', 'step']} steps: plain **{final.loc['plain', 'train_error']:.1%}**, "
            f"residual **{final.loc['residual', 'train_error']:.1%}** training error."
        )


def draw_sweep(log: E.ExperimentLog, key: str) -> None:
    """Error and branch size side by side; the many-line per-layer charts full width, so each line stays readable."""
    blocks, layers = log.last_measured(log.block_frame()), log.last_measured(log.layer_frame())
    left, right = st.columns(2)
    with left:
        if not log.final_frame().empty:
            show_figure(charts.final_error_vs_l2(log.final_frame()), "l2_error", f"{key}_error")
    with right:
        if not blocks.empty:
            show_figure(charts.branch_ratio_figure(blocks), "l2_branch_ratio", f"{key}_ratio")
    if not layers.empty:
        show_figure(charts.weight_norm_figure(layers), "l2_weight_norm", f"{key}_weights")
    if not blocks.empty:
        show_figure(charts.response_std_figure(blocks), "l2_response_std", f"{key}_std")


st.title("Identity & L2: a residual block can always do nothing")
st.markdown(
    "A residual block computes **a[l+2] = g(z[l+2] + a[l])**. If its weights are driven to zero (strong L2 does "
    "that), z[l+2] = 0 and the block outputs g(a[l]) = a[l]: adding it costs nothing. A plain block with zero "
    "weights outputs g(0) = 0 and the signal is gone. Both claims are measured below, on the real nets."
)
check_url(
    DEFAULTS,
    PAGE,
    (*MISSION, *ADVANCED),
    lists={"alpha": [str(a) for a in ALPHAS], "l2s": L2_LABELS},
    most={"l2s": MOST_L2S},
)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    share_box(config, DEFAULTS)

st.header("1. Zero the branches: measured")
alpha = st.select_slider(
    "α: scale of every block's last layer. Slide it to 0.",
    ALPHAS,
    value=1.0,
    key="alpha",
    bind="query-params",
    help="With BN: the second BN's scale and shift times α; without BN: the "
    "second layer's weight and bias. The same α for the plain and the residual net.",
)
try:
    identity_section(config, alpha)
except (ValueError, EngineStopped) as error:
    st.error(f"This experiment can't run: {describe(error)}", icon=":material/block:")

st.header("2. An L2 sweep")
st.markdown(
    "The same pair trained at several L2 strengths (coupled weight decay on every parameter, BN included). "
    "Strong L2 pulls weights toward zero: the plain stack's signal shrinks with them and its training stalls, "
    "while the residual net keeps its shortcuts and still trains."
)
strengths = st.multiselect(
    "L2 strengths to compare",
    E.L2_SWEEP,
    default=DEFAULT_L2S,
    key="l2s",
    bind="query-params",
    format_func=charts.l2_label,
    max_selections=MOST_L2S,
)
if len(strengths) < 2:
    st.warning("Choose at least two L2 strengths: the sweep is a comparison.", icon=":material/warning:")
else:
    try:
        log, finished = live_runs(
            l2_runs(config, strengths),
            E.ExperimentLog,
            draw_sweep,
            label="Train the sweep",
            estimate=lambda missing: estimate(config, len(missing)),
            key="l2",
        )
    except (ValueError, EngineStopped) as error:
        st.error(f"This experiment can't run: {describe(error)}", icon=":material/block:")
        log, finished = None, False
    if log is not None:
        draw_sweep(log, "l2_final")
        if finished:
            experiment_downloads(log, config, f"{view_name(PAGE, config)}_l2-sweep", "l2")
with st.expander("What am I looking at?"):
    st.markdown(
        "- **Branch ratio** ||F(x)|| / ||shortcut(x)|| per residual block: how much each block changes its input. "
        "Measured here, L2 shrinks it only moderately: with BatchNorm the shortcut's signal is made of earlier branches "
        "whose BN scales decay at the same rate, so the ratio moves less than the popular story suggests.\n"
        "- **||W|| per layer**: L2 shrinks the weights of both nets.\n"
        "- **Std of the branch response** (He et al. Fig. 7: after BN, before the addition): smaller in the residual net "
        "than in the plain one, as in the paper, and L2 shrinks both. A small branch costs a residual net nothing, since "
        "the shortcut carries the signal; in the plain net the branch *is* the signal, so its training error climbs with L2 "
        "(compare the error chart).\n"
        '- Zeroing the branch\'s last layer is also how Goyal et al. (2017) initialise residual nets ("zero_init_residual"): '
        "the residual net trains from there, the plain net can't (ReLU's gradient at 0 is 0, so nothing flows)."
    )
