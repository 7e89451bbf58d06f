"""What the science pages share beyond the runner (ui.runner): their list-valued URL settings and their downloads."""

from __future__ import annotations

import dataclasses
import json

import pandas as pd
import streamlit as st

from lab.spread import DEFAULT_SEEDS, SEED_COUNTS, seeds_from
from resnet_core.config import ExperimentConfig
from resnet_core.results import ExperimentLog, json_safe
from ui.exports import csv_and_json

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


def _frames(log: ExperimentLog) -> dict[str, pd.DataFrame]:
    return {"eval": log.eval_frame(), "layer": log.layer_frame(), "block": log.block_frame()}


def experiment_csv(log: ExperimentLog) -> str:
    frames = _frames(log)
    return pd.concat([f.assign(table=t) for t, f in frames.items() if not f.empty], ignore_index=True).to_csv(index=False)


def experiment_json(log: ExperimentLog, config: ExperimentConfig) -> str:
    document = {
        "config": dataclasses.asdict(config),
        "runs": [dict(key) for key in log.runs],
        **{t: f.to_dict(orient="records") for t, f in _frames(log).items()},
    }
    return json.dumps(json_safe(document), indent=1, default=str)


def experiment_downloads(log: ExperimentLog, config: ExperimentConfig, name: str, key: str) -> None:
    """CSV of every evaluation and per-layer measurement (long format) and JSON of the whole experiment."""
    csv_and_json(
        ("Download CSV (every measurement)", lambda: experiment_csv(log)),
        ("Download JSON (whole experiment)", lambda: experiment_json(log, config)),
        name,
        key,
    )
