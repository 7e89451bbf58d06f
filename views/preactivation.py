"""Pre-activation (He et al. 2016): the same plain and residual nets with the post- and the pre-activation unit, at init.

Thin: URL-bound widgets -> ExperimentConfig -> the init measurement of each unit in a worker (lab.jobs.init_run,
cached and shared with the Gradient Flow page) -> lab.preactivation table, verdict and figure.
"""

from __future__ import annotations

import streamlit as st

from lab import preactivation as P
from resnet_core.config import BLOCKS, ExperimentConfig
from resnet_core.results import RunLog
from serving.jobs import JobRequest
from ui.controls import experiment_controls
from ui.echo import refused
from ui.exports import share_box, show_figure, view_name
from ui.runner import EngineStopped, compute

DEFAULTS = ExperimentConfig(depth=110)  # He et al. 2016 compare the units at 110, 164 and 1001 layers
PAGE = "preactivation"
MISSION = ("depth", "activation", "norm")
ADVANCED = ("arch", "dataset", "init", "shortcut", "batch_size", "seed", "width")

st.title("Pre-activation: take g off the shortcut path")
st.markdown(
    "In He et al.'s original unit the shortcut is added **before** the block's last nonlinearity, "
    "a[l+2] = g(z[l+2] + a[l]), so every block's g also sits on the shortcut path. Their follow-up (He et al. 2016, "
    "*Identity Mappings in Deep Residual Networks*) moves BN and g in front of each weight layer: "
    "a[l+2] = a[l] + W2 g(BN(W1 g(BN(a[l])))), with one BN and g after the last block. Between the stem and that "
    "head the shortcut path is then additions only. Both units are measured here on the same weights at initialisation."
)
config = experiment_controls(DEFAULTS, page=PAGE, mission=MISSION, advanced=ADVANCED)
with st.sidebar:
    share_box(config, DEFAULTS)
try:
    logs = {
        unit: RunLog(config.replace(block=unit)).extend(
            compute(JobRequest("init", config.replace(block=unit), "lab.jobs:init_run"), f"measuring the {unit}-activation nets")
        )
        for unit in BLOCKS
    }
except (ValueError, EngineStopped) as error:
    st.error(refused(error), icon=":material/block:")
    st.stop()
frame = P.block_gradients(logs)
show_figure(P.unit_figure(frame), f"{view_name(PAGE, config)}_units", "units")
if (verdict := P.unit_verdict(frame)) is not None:
    for line in P.unit_story(verdict):
        st.markdown(line)
st.caption(
    "He et al. 2016 trained the units on CIFAR-10: ResNet-110 6.61% (post) vs 6.37% (pre) test error, ResNet-1001 "
    "7.61% vs 4.92%. Their gain shows in training very deep nets; this page measures the backward signal at step 0. "
    "To train either unit, choose it on the Gradient flow page under More settings (Residual unit)."
)
