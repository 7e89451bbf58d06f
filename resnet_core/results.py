"""RunLog: the records of one paired run, turned into the tables, CSV and JSON everyone shares.

Pages, the CLI and exports all read a run through this class, so a number on a chart,
in a CSV row and in the JSON file comes from the same record.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable
from typing import Any

import pandas as pd

from resnet_core.config import ExperimentConfig
from resnet_core.models import VARIANTS
from resnet_core.probes import BLOCK_METRICS

LAYER_METRICS = ("grad_norm", "weight_norm")


def json_safe(value: Any) -> Any:
    """NaN/inf become null so the file is strict JSON."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, dict):
        return {k: json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v) for v in value]
    return value


def gradient_ratio(main_grad_norms: list[float]) -> float:
    """First / last hidden weight layer's gradient norm, from the main-path layers' norms in input -> output order.

    The last entry is the classifier and is excluded. Above 1 the gradient grows toward the input
    (plain + BN), below 1 it vanishes (plain, no BN): docs/SCIENCE_NOTES.md 1.
    """
    first, last = main_grad_norms[0], main_grad_norms[-2]
    return first / last if last else math.inf


class RunLog:
    """Accumulates `train()` records for one config, in arrival order."""

    def __init__(self, config: ExperimentConfig) -> None:
        self.config = config
        self.meta: dict[str, dict[str, Any]] = {}
        self.steps: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        self.evals: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
        self.final: dict[str, dict[str, Any]] = {}
        self.diverged: dict[str, int] = {}
        self.boundary: dict[str, Any] | None = None  # each trained net's decision boundary, on a 2-D set

    def add(self, record: dict[str, Any]) -> None:
        kind, variant = record["kind"], record["variant"]
        if kind == "meta":
            self.meta[variant] = record
        elif kind == "step":
            self.steps[variant].append(record)
        elif kind == "eval":
            self.evals[variant].append(record)
        elif kind == "diverged":
            self.diverged[variant] = record["step"]
        elif kind == "done":
            self.final[variant] = record
        elif kind == "boundary":
            self.boundary = record["grid"]

    def extend(self, records: Iterable[dict[str, Any]]) -> RunLog:
        for record in records:
            self.add(record)
        return self

    @property
    def finished(self) -> bool:
        return len(self.final) == len(VARIANTS)

    @property
    def last_step(self) -> int:
        return max((s[-1]["step"] for s in self.steps.values() if s), default=-1)

    def measured_steps(self, variant: str) -> list[dict[str, Any]]:
        return [r for r in self.steps[variant] if "grad_norm" in r]

    def layer_frame(self) -> pd.DataFrame:
        """Long table: variant, step, layer (1 = input side), name, kind, metric, value."""
        rows = []
        for v, meta in self.meta.items():
            for record in self.measured_steps(v):
                for metric in LAYER_METRICS:
                    for layer, value in zip(meta["layers"], record[metric], strict=True):
                        rows.append((v, record["step"], layer["index"], layer["name"], layer["kind"], metric, value))
        return pd.DataFrame(rows, columns=["variant", "step", "layer", "name", "kind", "metric", "value"])

    def block_frame(self) -> pd.DataFrame:
        """Long table: variant, step, block (1 = input side), metric, value."""
        rows = []
        for v in self.meta:
            for record in self.measured_steps(v):
                for metric in BLOCK_METRICS:
                    rows.extend((v, record["step"], i + 1, metric, value) for i, value in enumerate(record[metric]))
        return pd.DataFrame(rows, columns=["variant", "step", "block", "metric", "value"])

    def curve_frame(self) -> pd.DataFrame:
        """variant, step, loss, batch_error per training step."""
        rows = [(v, r["step"], r["loss"], r["batch_error"]) for v in VARIANTS for r in self.steps[v]]
        return pd.DataFrame(rows, columns=["variant", "step", "loss", "batch_error"])

    def eval_frame(self) -> pd.DataFrame:
        """variant, step, train_error, test_error at each full evaluation."""
        rows = [(v, r["step"], r["train_error"], r["test_error"]) for v in VARIANTS for r in self.evals[v]]
        return pd.DataFrame(rows, columns=["variant", "step", "train_error", "test_error"])

    def export_frame(self) -> pd.DataFrame:
        """The CSV export: per-layer and per-block records in one long table (variant, step, layer, metric, value)."""
        layers = self.layer_frame()
        blocks = (
            self.block_frame()
            .rename(columns={"block": "layer"})
            .assign(name=lambda d: "block " + d["layer"].astype(str), kind="block")
        )
        return pd.concat([layers, blocks], ignore_index=True)[["variant", "step", "layer", "name", "kind", "metric", "value"]]

    def ratio(self, variant: str, step: int = 0) -> float:
        """`gradient_ratio` of this variant's step `step`; NaN if that step was not measured."""
        meta = self.meta[variant]
        for record in self.measured_steps(variant):
            if record["step"] == step:
                main = [g for g, layer in zip(record["grad_norm"], meta["layers"], strict=True) if layer["kind"] == "main"]
                return gradient_ratio(main)
        return math.nan

    def run_json(self, variant: str) -> dict[str, Any]:
        """One entry of the CLI's `runs` list."""
        measured = self.measured_steps(variant)
        init = measured[0] if measured and measured[0]["step"] == 0 else {}
        evals = {r["step"]: r for r in self.evals[variant]}
        history = []
        for record in self.steps[variant]:
            entry = {k: v for k, v in record.items() if k not in ("kind", "variant")}
            if record["step"] in evals:
                entry.update(train_error=evals[record["step"]]["train_error"], test_error=evals[record["step"]]["test_error"])
            history.append(entry)
        last = history[-1]["step"] if history else -1
        history.extend(
            {"step": s, "train_error": e["train_error"], "test_error": e["test_error"]} for s, e in evals.items() if s > last
        )
        final = self.final.get(variant, {})
        meta = self.meta.get(variant, {})
        return {
            "variant": variant,
            "depth": self.config.depth,
            "device": meta.get("device"),
            "n_params": meta.get("n_params"),
            "layers": meta.get("layers", []),
            "init": {k: init.get(k, []) for k in ("grad_norm", "weight_norm", *BLOCK_METRICS)},
            "history": history,
            "final": {k: final.get(k) for k in ("train_error", "test_error", "diverged", "diverged_at")},
        }

    def to_json(self) -> dict[str, Any]:
        return {"config": dataclasses.asdict(self.config), "runs": [self.run_json(v) for v in VARIANTS if v in self.meta]}
