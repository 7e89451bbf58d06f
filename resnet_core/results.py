"""The one log: the records of a paired run (`RunLog`) and of several tagged runs (`ExperimentLog`).

Pages, the CLI and exports all read runs through these classes, so a number on a chart,
in a CSV row and in the JSON file comes from the same record. An `ExperimentLog` is a set of
`RunLog`s, one per tag combination (depth, seed, l2, ...): its tables are theirs, with one
column per tag, so every quantity is defined once, in `RunLog`.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

import pandas as pd

from resnet_core.config import ExperimentConfig
from resnet_core.specs import BLOCK_METRICS, VARIANTS

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


def table_frame(record: dict[str, Any], name: str = "table") -> pd.DataFrame:
    """A table a worker sent as records (`DataFrame.to_dict(orient="records")`) back as the DataFrame it was."""
    return pd.DataFrame.from_records(record[name])


def end_ratio(values: Sequence[float]) -> float:
    """First / last of a series ordered input -> output (layers, blocks): above 1 it is larger at the input side.

    The one convention of every first / last ratio the lab shows: inf when only the last value is 0, NaN when both
    are or the series has fewer than two values (nothing to compare).
    """
    if len(values) < 2:
        return math.nan
    first, last = float(values[0]), float(values[-1])
    if last == 0:
        return math.nan if first == 0 else math.inf
    return first / last


def gradient_ratio(main_grad_norms: list[float]) -> float:
    """First / last hidden weight layer's gradient norm, from the main-path layers' norms in input -> output order.

    The last entry is the classifier and is excluded. Above 1 the gradient grows toward the input
    (plain + BN), below 1 it vanishes (plain, no BN): docs/SCIENCE_NOTES.md 1.
    """
    return end_ratio(main_grad_norms[:-1])


class RunLog:
    """Accumulates `train()` records for one config, in arrival order."""

    def __init__(self, config: ExperimentConfig | None = None) -> None:
        self.config = config  # None in an ExperimentLog, whose records name their run by tags
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

    def main_grad_norms(self, variant: str, step: int = 0) -> list[float]:
        """||dL/dW|| of the main-path layers at `step`, input -> output (classifier last); [] if not measured."""
        meta = self.meta[variant]
        for record in self.measured_steps(variant):
            if record["step"] == step:
                return [g for g, layer in zip(record["grad_norm"], meta["layers"], strict=True) if layer["kind"] == "main"]
        return []

    def ratio(self, variant: str, step: int = 0) -> float:
        """`gradient_ratio` of this variant's step `step`; NaN if that step was not measured."""
        norms = self.main_grad_norms(variant, step)
        return gradient_ratio(norms) if norms else math.nan

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
            "depth": self.config.depth if self.config else None,
            "device": meta.get("device"),
            "n_params": meta.get("n_params"),
            "layers": meta.get("layers", []),
            "init": {k: init.get(k, []) for k in ("grad_norm", "weight_norm", *BLOCK_METRICS)},
            "history": history,
            "final": {k: final.get(k) for k in ("train_error", "test_error", "diverged", "diverged_at")},
        }

    def to_json(self) -> dict[str, Any]:
        config = dataclasses.asdict(self.config) if self.config else None
        return {"config": config, "runs": [self.run_json(v) for v in VARIANTS if v in self.meta]}

    def final_frame(self) -> pd.DataFrame:
        """variant, train_error, test_error, diverged of every net that finished (its `done` record)."""
        rows = [(v, r["train_error"], r["test_error"], r["diverged"]) for v, r in self.final.items()]
        return pd.DataFrame(rows, columns=["variant", "train_error", "test_error", "diverged"])


TAG_COLUMNS = ("depth", "seed", "l2", "option", "alpha", "block")  # the fields runs of one experiment differ by, in column order


def run_name(variant: str, tags: dict[str, Any]) -> str:
    """A run's name in tables and legends: variant then its tags, e.g. plain-56-0."""
    return "-".join([variant, *(str(tags[t]) for t in TAG_COLUMNS if t in tags)])


class ExperimentLog:
    """Several paired runs, each a `RunLog` under its tags; records carry `tags` (see `tag`)."""

    def __init__(self) -> None:
        self.runs: dict[tuple[tuple[str, Any], ...], RunLog] = {}

    def add(self, record: dict[str, Any]) -> None:
        key = tuple(sorted(record["tags"].items()))
        self.runs.setdefault(key, RunLog()).add(record)

    def extend(self, records: Iterable[dict[str, Any]]) -> ExperimentLog:
        for record in records:
            self.add(record)
        return self

    @property
    def tag_names(self) -> list[str]:
        names = {name for key in self.runs for name, _ in key}
        return [t for t in TAG_COLUMNS if t in names]

    def _frame(self, table: str) -> pd.DataFrame:
        """One of RunLog's tables over every run, with `run` and one column per tag in front."""
        frames = []
        for key, log in self.runs.items():
            tags = dict(key)
            frame = getattr(log, table)()
            frame.insert(0, "run", [run_name(v, tags) for v in frame["variant"]])
            frames.append(frame.assign(**tags))
        columns = ["run", *self.tag_names, "variant"]
        if not frames:
            return pd.DataFrame(columns=columns)
        frame = pd.concat(frames, ignore_index=True)
        return frame[columns + [c for c in frame.columns if c not in columns]]

    def eval_frame(self) -> pd.DataFrame:
        """run, tags..., variant, step, train_error, test_error at each full evaluation."""
        return self._frame("eval_frame")

    def curve_frame(self) -> pd.DataFrame:
        """run, tags..., variant, step, loss, batch_error at every training step."""
        return self._frame("curve_frame")

    def layer_frame(self) -> pd.DataFrame:
        """run, tags..., variant, step, layer (1 = input side), name, kind, metric, value at every measured step."""
        return self._frame("layer_frame")

    def block_frame(self) -> pd.DataFrame:
        """run, tags..., variant, step, block (1 = input side), metric, value for the per-block statistics."""
        return self._frame("block_frame")

    def final_frame(self) -> pd.DataFrame:
        """Finished runs only (their `done` record): a run still training never enters a verdict."""
        return self._frame("final_frame")

    @staticmethod
    def last_measured(frame: pd.DataFrame) -> pd.DataFrame:
        """Rows of each run's last measured step: the state after training."""
        last = frame.groupby("run")["step"].transform("max")
        return frame[frame["step"] == last].reset_index(drop=True)

    @property
    def devices(self) -> list[str]:
        return sorted({meta.get("device", "?") for log in self.runs.values() for meta in log.meta.values()})

    def to_json(self) -> dict[str, Any]:
        """Every run's RunLog JSON under its tags."""
        return {"runs": [{"tags": dict(key), **log.to_json()} for key, log in self.runs.items()]}


def tag(records: Iterable[dict[str, Any]], **tags: Any) -> Iterator[dict[str, Any]]:
    """`train()` records with `tags`, so runs of several configs share one ExperimentLog."""
    for record in records:
        yield {**record, "tags": tags}


# ---- Spread over seeds: its one definition, for every page, sweep table, export and sentence ---------------------------


def seed_summary(frame: pd.DataFrame, keys: Sequence[str], value: str) -> pd.DataFrame:
    """keys..., mean, low, high, n of `value` over the rows of `frame` that differ only by seed (or random draw).

    The spread is the min-max range, not a standard deviation: with 2-5 seeds a std is itself noisy,
    and the range shows the worst seed, which is the one a reader must know about
    (docs/SCIENCE_NOTES.md 4: residual-56 anywhere between 3% and 63% at lr 0.1).
    """
    grouped = frame.groupby(list(keys), sort=True)[value]
    return grouped.agg(mean="mean", low="min", high="max", n="count").reset_index()


def range_text(mean: float, low: float, high: float, n: int, spec: str = ".1%") -> str:
    """ "12.3%" for one seed, "12.3% [8.1–15.0%]" (mean [min–max]) for several; `spec` formats all three."""
    if n == 1:
        return format(mean, spec)
    dash = " to " if low < 0 else "–"  # "[-0.10–0.05]" would read as a subtraction
    return f"{mean:{spec}} [{low:{spec}}{dash}{high:{spec}}]"
