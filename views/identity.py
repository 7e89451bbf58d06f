"""Identity & L2: why a residual block can always fall back to the identity, and a plain block can't.

Two measured demonstrations (thin page: widgets -> lab.identity jobs -> science_charts and readings):
1. Scale every block's last layer by alpha. At alpha = 0 each identity residual block outputs
   exactly its input, the plain stack's output is a constant; then both train from there.
2. An L2 sweep: after training, branch size, weight norms and response std, plain vs residual.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd
import streamlit as st

from lab import identity as I
from lab import science_charts as charts
from lab.errors import error_method
from lab.pages import IDENTITY
from lab.spread import error_bands
from lab.style import COLORS, l2_label
from resnet_core.config import SHORTCUT_OPTIONS, ExperimentConfig
from resnet_core.results import ExperimentLog, table_frame, tag
from resnet_core.specs import VARIANTS
from serving.job import JobRequest
from ui import shared
from ui.controls import experiment_controls
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, Run, live_runs, shared_result, show_refusal
from ui.science import SEED_LISTS, experiment_downloads, seed_control
from ui.url import check_url

DEFAULTS = IDENTITY.defaults  # why these: lab/pages.py
MOST_L2S = 6  # strengths one sweep trains: the multiselect's cap, and check_url's
L2_LABELS = [l2_label(v) for v in I.L2_SWEEP]  # the sweep's options as its multiselect writes them into the URL
PAGE = IDENTITY.url_path
MISSION = ("depth", "shortcut")
ADVANCED = ("dataset", "norm", "activation", "init", "optimizer", "lr", "steps", "batch_size", "seed", "width", "eval_every")


@dataclass(frozen=True)
class Check:
    """The identity check at one alpha: per-block measurements and each net's output spread over the batch, one object
    so that every session of the server reads it, and draws its figure, once (ui.shared)."""

    table: pd.DataFrame
    spread: dict[str, float]


def identity_check(config: ExperimentConfig, alpha: float) -> Check:
    """The measured identity check at this alpha, computed in a worker and cached."""
    request = JobRequest(f"identity-{alpha!r}", config, "lab.jobs:identity_run", (alpha,))
    return shared_result(
        request, "measuring each block's output", lambda records: Check(table_frame(records[-1]), records[-1]["spread"]), PAGE
    )


def alpha_runs(config: ExperimentConfig, alpha: float, seeds: Sequence[int]) -> list[Run]:
    """The pair trained from the alpha-scaled weights, once per seed."""
    runs = []
    for seed in seeds:
        request = JobRequest(f"alpha-{alpha!r}", config.replace(seed=seed), "lab.jobs:alpha_run", (alpha,))
        runs.append(Run(request, tag=lambda rs, s=seed: tag(rs, seed=s, alpha=alpha), step_records=2 * config.steps))
    return runs


def l2_runs(config: ExperimentConfig, strengths: Sequence[float], seeds: Sequence[int]) -> list[Run]:
    """The pair at each L2 strength and seed (the engine's "train" jobs, shared with the other pages' cache)."""
    runs = []
    for l2 in sorted(strengths):
        for seed in seeds:
            request = JobRequest("train", config.replace(l2=float(l2), seed=seed), "lab.jobs:train_run")
            runs.append(Run(request, tag=lambda rs, l2=float(l2), s=seed: tag(rs, seed=s, l2=l2), step_records=2 * config.steps))
    return runs


def identity_section(config: ExperimentConfig, alpha: float, seeds: Sequence[int]) -> None:
    """The measured check at this alpha, then training both nets from the scaled weights."""
    measured = identity_check(config, alpha)
    check, spread = measured.table, measured.spread
    residual = check[check["run"] == "residual"]
    identity, reshaping, projected = I.block_kinds(residual)
    worst = float(identity["max_diff_input"].max()) if len(identity) else None
    left, middle, right = st.columns(3)
    left.metric(
        "residual: max |a[l+2] − a[l]|",
        I.worst_text(worst),
        border=True,
        help=f"over the {len(identity)} residual blocks whose shortcut is the identity, on one minibatch"
        if len(identity)
        else f"no residual block has an identity shortcut with option {config.shortcut} ({SHORTCUT_OPTIONS[config.shortcut]})",
    )
    middle.metric(
        "plain: output std over the batch",
        f"{spread['plain']:.3g}",
        border=True,
        help="largest std over the batch of any logit: 0 means every image gets the same output",
    )
    right.metric("residual: output std over the batch", f"{spread['residual']:.3g}", border=True)
    if alpha == 0:
        holds, sentence = I.zero_alpha_reading(worst, spread["plain"])
        (st.success if holds else st.info)(sentence, icon=":material/check_circle:" if holds else ":material/info:")
    if len(reshaping) or len(projected):
        option = f"option {config.shortcut} ({SHORTCUT_OPTIONS[config.shortcut]})"
        diff = float(pd.concat([reshaping, projected])["max_diff_shortcut"].max())
        st.caption(I.transition_line(len(reshaping), len(projected), option, diff, alpha))
    if config.activation != "relu":
        st.warning(
            f"The identity argument needs g(a) = a for the block's input a, which holds for ReLU (a ≥ 0 after a ReLU). "
            f"With {config.activation} it fails, as the measured difference shows. Choose relu to see it hold.",
            icon=":material/warning:",
        )
    show_figure(
        lambda: charts.block_output_figure(check),
        f"{view_name(PAGE, config, DEFAULTS)}_alpha-{alpha:g}_outputs",
        "alpha_outputs",
        source=measured,
    )
    with st.expander("Per-block measurements"):
        st.dataframe(check, hide_index=True)
    st.subheader(f"Training both nets from the α = {alpha:g} weights")
    log, finished = live_runs(
        alpha_runs(config, alpha, seeds),
        ExperimentLog,
        lambda log, key: draw_alpha(log, key),
        label="Train from here",
        key="alpha",
        shared_as=PAGE,
    )
    if log is not None:
        draw_alpha(log, "alpha_final")
        if finished:
            experiment_downloads(log, config, f"{view_name(PAGE, config, DEFAULTS)}_alpha-{alpha:g}", "alpha")


def draw_alpha(log: ExperimentLog, key: str) -> None:
    """The error bands and sentences (a finished log's once per server, ui.shared: they read nothing but the log)."""
    style = {v: (COLORS[v], "solid") for v in VARIANTS}
    title = "Training error after scaling the branches (band: range over seeds)"
    show_figure(lambda: error_bands(log.eval_frame(), "variant", style, title), "alpha_curves", key, source=log)
    for line in shared.derived(log, "alpha_lines", lambda: I.alpha_lines(log)):
        st.markdown(line)


def draw_sweep(log: ExperimentLog, key: str, norm: str) -> None:
    """Error and branch size side by side; the many-line per-layer charts (seed means and ranges) full width, so each
    stays readable. A finished log's frames, figures and sentences once per server (ui.shared)."""
    blocks = shared.derived(log, "last_blocks", lambda: log.last_measured(log.block_frame()))
    layers = shared.derived(log, "last_layers", lambda: log.last_measured(log.layer_frame()))
    final = shared.derived(log, "final_frame", log.final_frame)
    left, right = st.columns(2)
    with left:
        if not final.empty:
            show_figure(lambda: charts.final_error_vs_l2(final), "l2_error", f"{key}_error", source=log)
    with right:
        if not blocks.empty:
            show_figure(lambda: charts.branch_ratio_figure(blocks), "l2_branch_ratio", f"{key}_ratio", source=log)
    if not layers.empty:
        show_figure(lambda: charts.weight_norm_figure(layers), "l2_weight_norm", f"{key}_weights", source=log)
    if not blocks.empty:
        show_figure(lambda: charts.response_std_figure(blocks), "l2_response_std", f"{key}_std", source=log)
    for line in shared.derived(log, ("sweep_lines", norm), lambda: I.sweep_lines(log, norm)):
        st.markdown(line)


st.title("Identity & L2: a residual block can always do nothing")
st.markdown(
    "A residual block computes **a[l+2] = g(z[l+2] + a[l])**. If its branch outputs zero, z[l+2] = 0 and the block "
    "outputs g(a[l]) = a[l]: adding it costs nothing. A plain block whose branch outputs zero outputs g(0) = 0 and the "
    "signal is gone. Section 1 forces the branches to zero and measures both claims on the real nets; section 2 "
    "measures how far L2 actually pushes them (the sentences under its charts say how far, against the seed spread)."
)
check_url(
    DEFAULTS,
    PAGE,
    (*MISSION, *ADVANCED),
    lists={"alpha": [str(a) for a in I.ALPHAS], "l2s": L2_LABELS, **SEED_LISTS},
    most={"l2s": MOST_L2S},
)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    seeds = seed_control(config)
    share_box(config, DEFAULTS)

st.header("1. Zero the branches: measured")
alpha = st.select_slider(
    "α: scale of every block's last layer. Slide it to 0.",
    I.ALPHAS,
    value=1.0,
    key="alpha",
    bind="query-params",
    help="With BN: the second BN's scale and shift times α; without BN: the "
    "second layer's weight and bias. The same α for the plain and the residual net.",
)
try:
    identity_section(config, alpha, seeds)
except (ValueError, EngineStopped) as error:
    show_refusal(error)

st.header("2. An L2 sweep")
st.markdown(
    "The same pair trained at several L2 strengths (coupled weight decay on every parameter, BN included) and seeds. "
    f"The sentences under the charts say what was measured; training error is measured {error_method(config.norm)}."
)
strengths = st.multiselect(
    "L2 strengths to compare",
    I.L2_SWEEP,
    default=I.DEFAULT_L2S,
    key="l2s",
    bind="query-params",
    format_func=l2_label,
    max_selections=MOST_L2S,
)
if len(strengths) < 2:
    st.warning("Choose at least two L2 strengths: the sweep is a comparison.", icon=":material/warning:")
else:
    try:
        log, finished = live_runs(
            l2_runs(config, strengths, seeds),
            ExperimentLog,
            lambda log, key: draw_sweep(log, key, config.norm),
            label="Train the sweep",
            key="l2",
            shared_as=PAGE,
        )
    except (ValueError, EngineStopped) as error:
        show_refusal(error)
        log, finished = None, False
    if log is not None:
        draw_sweep(log, "l2_final", config.norm)
        if finished:
            experiment_downloads(log, config, f"{view_name(PAGE, config, DEFAULTS)}_l2-sweep", "l2")
with st.expander("What am I looking at?"):
    st.markdown(
        "- **Branch ratio** ||F(x)|| / ||shortcut(x)|| per residual block: how much each block changes its input. With "
        "BatchNorm a layer's output does not depend on the size of its weights (scale invariance), only on BN's scale "
        "and shift, so shrinking the weights need not shrink the branch: the sentence under the charts says how far "
        "the strongest L2 moved the ratio here, against the seed spread.\n"
        "- **||W|| per layer**: the size of every main-path weight after training, per L2 strength; the sentence under "
        "the charts says whether the strongest L2 moved it beyond seed noise.\n"
        "- **Std of the branch response** (He et al. Fig. 7: after BN, before the addition). The paper found it smaller "
        "in residual nets; the sentence under the charts says whether it is here, strength by strength.\n"
        "- Every chart draws the seed mean as a line and the range over seeds as a band. A sentence calls a difference "
        "real only where the seed ranges don't overlap; where they do, it says *within seed noise*.\n"
        '- Zeroing the branch\'s last layer is also how Goyal et al. (2017) initialise residual nets ("zero_init_residual"): '
        "the residual net trains from there, the plain net can't (ReLU's gradient at 0 is 0, so nothing flows)."
    )
