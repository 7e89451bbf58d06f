"""What the science pages share beyond the runner (ui.runner): their training section, list-valued URL settings, downloads."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Sequence
from typing import Any

import pandas as pd
import streamlit as st

from lab.pages import SEEDS_KEY
from lab.spread import DEFAULT_SEEDS, SEED_COUNTS, seeds_from
from resnet_core.config import ExperimentConfig
from resnet_core.results import ExperimentLog, json_safe
from ui.exports import csv_and_json
from ui.runner import EngineStopped, Log, Run, live_runs, show_refusal

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


def train_and_draw(
    runs: Callable[[], Sequence[Run]],
    new_log: Callable[[], Log],
    draw: Callable[[Any, str], None],
    *,
    label: str,
    key: str,
    shared_as: str,
) -> tuple[Any | None, bool]:
    """A science page's training section: its runs live (ui.runner.live_runs; a finished log is the server's one copy,
    `shared_as`), then the log drawn once more (element key "final"). Settings the engine refuses, in building the runs
    too (a seed past the largest), show the refusal and end the page. Returns (the log or None, finished): a finished
    log's downloads are the page's."""
    try:
        log, finished = live_runs(runs(), new_log, draw, label=label, key=key, shared_as=shared_as)
    except (ValueError, EngineStopped) as error:
        show_refusal(error)
        st.stop()
    if log is not None:
        draw(log, "final")
    return log, finished
