"""The CLI's `shattered` and `landscape` subcommands: the same records the lab's page shows, as JSON and CSV.

    python -m resnet_core shattered --norm batch --seeds 5 --out shattered.json --csv shattered.csv
    python -m resnet_core landscape --depth 20 --points-2d 15 --out landscape.json

Every option is a field of ShatterSpec / SliceSpec (and, for landscape, of ExperimentConfig);
a summary per net goes to stderr.
"""

from __future__ import annotations

import argparse
import dataclasses
from typing import Any

import pandas as pd

from resnet_core.config import DEVICES, FIELDS, ExperimentConfig, parse_value
from resnet_core.landscape import landscape_records
from resnet_core.results import range_text, seed_summary
from resnet_core.shattered import shattered_records
from resnet_core.specs import VARIANTS, ShatterSpec, SliceSpec, slice_summary


def _spec_options(parser: argparse.ArgumentParser, spec: type) -> None:
    for field in dataclasses.fields(spec):
        default = field.default
        parser.add_argument(
            "--" + field.name.replace("_", "-"), dest=field.name, type=type(default), default=default, help=f"default {default!r}"
        )


def _outputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", help="write the JSON result here (default: stdout)")
    parser.add_argument("--csv", help="also write a long CSV table")


def add_parsers(commands: Any) -> None:
    """Add both subcommands to the main parser's subparsers."""
    shattered = commands.add_parser("shattered", help="dy/dx of plain and residual nets over a 1-D grid, and its autocorrelation")
    _spec_options(shattered, ShatterSpec)
    shattered.add_argument("--device", default="auto", choices=DEVICES, help=FIELDS["device"].help)
    _outputs(shattered)
    landscape = commands.add_parser("landscape", help="train the pair, then 1-D and 2-D loss slices around the trained weights")
    defaults = ExperimentConfig()
    for name, spec in FIELDS.items():
        landscape.add_argument("--" + name.replace("_", "-"), dest=name, default=str(getattr(defaults, name)), help=spec.help)
    _spec_options(landscape, SliceSpec)
    _outputs(landscape)


def _spread(values: list[float]) -> dict[str, float]:
    """Mean, low, high over the finite values of seeds or random directions (the lab's one seed spread,
    results.seed_summary), n of them, and of how many: a seed whose value is not a number is counted, not hidden."""
    row = seed_summary(pd.DataFrame({"group": 0, "value": values}), ["group"], "value").iloc[0]
    spread = {"mean": float(row["mean"]), "low": float(row["low"]), "high": float(row["high"]), "n": int(row["n"])}
    return spread | {"of": len(values)}


def _spread_text(spread: dict[str, float], spec: str) -> str:
    text = range_text(spread["mean"], spread["low"], spread["high"], int(spread["n"]), spec)
    return text if spread["n"] == spread["of"] else f"{text} ({spread['n']} of {spread['of']} values finite)"


def shattered_result(args: argparse.Namespace) -> tuple[dict[str, Any], pd.DataFrame, list[str]]:
    spec = ShatterSpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(ShatterSpec)})
    records = list(shattered_records(spec, args.device))
    x, curves = records[0]["x"], records[1:]
    lag1 = {v: _spread([c["acf"][1] for c in curves if c["variant"] == v]) for v in VARIANTS}
    rows = [
        {"variant": c["variant"], "seed": c["seed"], "table": table, "index": i, "position": pos, "value": value}
        for c in curves
        for table, positions, values in (("gradient", x, c["gradient"]), ("acf", range(len(c["acf"])), c["acf"]))
        for i, (pos, value) in enumerate(zip(positions, values, strict=True))
    ]
    lines = [f"{v:>8}: lag-1 autocorrelation of dy/dx {_spread_text(s, '.3f')}" for v, s in lag1.items()]
    document = {"spec": dataclasses.asdict(spec), "device": records[0]["device"], "x": x, "curves": curves, "lag1": lag1}
    return document, pd.DataFrame(rows), lines


def landscape_result(args: argparse.Namespace) -> tuple[dict[str, Any], pd.DataFrame, list[str]]:
    config = ExperimentConfig(**{name: parse_value(name, getattr(args, name)) for name in FIELDS})
    spec = SliceSpec(**{f.name: getattr(args, f.name) for f in dataclasses.fields(SliceSpec)})
    final, slices = {}, []
    for record in landscape_records(config, spec):
        if record["kind"] == "done":
            final[record["variant"]] = record
        elif record["kind"] in ("slice1d", "slice2d"):
            slices.append(record)
    lines1 = {r["variant"]: r for r in slices if r["kind"] == "slice1d"}
    surfaces = {r["variant"]: r for r in slices if r["kind"] == "slice2d"}
    summary = {
        v: {"trained_loss": lines1[v]["trained_loss"]}
        | {k: _spread(x) if isinstance(x, list) else x for k, x in slice_summary(lines1[v]["loss"], surfaces[v]["loss"]).items()}
        for v in VARIANTS
    }
    rows = [
        {"variant": r["variant"], "slice": "1d", "direction": j + 1, "alpha": a, "beta": 0.0, "loss": loss}
        for r in lines1.values()
        for j, line in enumerate(r["loss"])
        for a, loss in zip(r["alpha"], line, strict=True)
    ] + [
        {"variant": r["variant"], "slice": "2d", "direction": 0, "alpha": a, "beta": b, "loss": loss}
        for r in surfaces.values()
        for b, row in zip(r["alpha"], r["loss"], strict=True)
        for a, loss in zip(r["alpha"], row, strict=True)
    ]
    lines = [
        f"{v:>8}: trained loss {s['trained_loss']:.4g}, rise at alpha=+-{spec.span:g} {_spread_text(s['rise'], '.3g')}, "
        f"non-convex share of the 2-D slice {s['nonconvex_2d']:.0%}"
        for v, s in summary.items()
    ]
    document = {
        "config": dataclasses.asdict(config),
        "spec": dataclasses.asdict(spec),
        "final": final,
        "summary": summary,
        "slices": slices,
    }
    return document, pd.DataFrame(rows), lines


RESULTS = {"shattered": shattered_result, "landscape": landscape_result}
