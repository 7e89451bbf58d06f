"""What the science pages share beyond the runner (ui.runner): their list-valued URL settings and their downloads."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import streamlit as st

from lab.spread import DEFAULT_SEEDS, SEED_COUNTS, seeds_from
from resnet_core.config import ExperimentConfig
from resnet_core.results import ExperimentLog, json_safe

SEEDS_KEY = "seeds"
SEED_LISTS = {SEEDS_KEY: [str(n) for n in SEED_COUNTS]}  # check_url's allowed values of the seeds key


def seed_control(config: ExperimentConfig) -> list[int]:
    """The "Seeds" slider (in the URL as ?seeds=n): the comparison runs seed, seed + 1, ... and draws their spread."""
    count = st.select_slider(
        "Seeds per run",
        SEED_COUNTS,
        value=DEFAULT_SEEDS,
        key=SEEDS_KEY,
        bind="query-params",
        help="Each net is trained from this many seeds (init and minibatch order); charts show the mean and the range, "
        "and every sentence says on how many seeds it holds. More seeds cost proportionally more time.",
    )
    return seeds_from(config.seed, int(count))


def experiment_downloads(log: ExperimentLog, config: ExperimentConfig, name: str, key: str) -> None:
    """CSV of every evaluation and per-layer measurement (long format) and JSON of the whole experiment."""
    frames = {"eval": log.eval_frame(), "layer": log.layer_frame(), "block": log.block_frame()}
    csv = pd.concat([f.assign(table=t) for t, f in frames.items() if not f.empty], ignore_index=True).to_csv(index=False)
    document = {
        "config": dataclasses.asdict(config),
        "runs": [dict(key) for key in log.runs],
        **{t: f.to_dict(orient="records") for t, f in frames.items()},
    }
    csv_col, json_col = st.columns(2)
    csv_col.download_button(
        "Download CSV (every measurement)",
        csv,
        file_name=f"{name}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"{key}_csv",
        on_click="ignore",
    )
    json_col.download_button(
        "Download JSON (whole experiment)",
        json.dumps(json_safe(document), indent=1, default=str),
        file_name=f"{name}.json",
        mime="application/json",
        icon=":material/download:",
        key=f"{key}_json",
        on_click="ignore",
    )
