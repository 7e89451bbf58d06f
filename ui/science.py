"""What the science pages share beyond the runner (ui.runner): their list-valued URL settings and their downloads."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import streamlit as st

from lab.experiments import ExperimentLog
from resnet_core.config import ExperimentConfig
from resnet_core.results import json_safe


def _frames(log: ExperimentLog) -> dict[str, pd.DataFrame]:
    return {"eval": log.eval_frame(), "layer": log.layer_frame(), "block": log.block_frame()}


def experiment_csv(log: ExperimentLog) -> str:
    frames = _frames(log)
    return pd.concat([f.assign(table=t) for t, f in frames.items() if not f.empty], ignore_index=True).to_csv(index=False)


def experiment_json(log: ExperimentLog, config: ExperimentConfig) -> str:
    document = {
        "config": dataclasses.asdict(config),
        "runs": {run: meta["tags"] for run, meta in log.meta.items()},
        **{t: f.to_dict(orient="records") for t, f in _frames(log).items()},
    }
    return json.dumps(json_safe(document), indent=1, default=str)


def experiment_downloads(log: ExperimentLog, config: ExperimentConfig, name: str, key: str) -> None:
    """CSV of every evaluation and per-layer measurement (long format) and JSON of the whole experiment.

    Written when clicked (deferred), as ui.exports.download_buttons: not on every rerun of every session.
    """
    csv_col, json_col = st.columns(2)
    csv_col.download_button(
        "Download CSV (every measurement)",
        lambda: experiment_csv(log),
        file_name=f"{name}.csv",
        mime="text/csv",
        icon=":material/download:",
        key=f"{key}_csv",
        on_click="ignore",
    )
    json_col.download_button(
        "Download JSON (whole experiment)",
        lambda: experiment_json(log, config),
        file_name=f"{name}.json",
        mime="application/json",
        icon=":material/download:",
        key=f"{key}_json",
        on_click="ignore",
    )
