"""`python -m resnet_core sweep`: a grid of configs, one cached job per cell, on local workers or on Ray.

The command's half that lives in serving (it schedules jobs and reads the shared cache), so the
engine's CLI module stays an argument parser over the engine. A rerun computes only the cells
the cache lacks; the table at the end reads every stored cell.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

import pandas as pd
from tqdm import tqdm

from resnet_core.config import FIELDS, PRESETS, ExperimentConfig, describe_range
from resnet_core.results import range_text
from resnet_core.specs import VARIANTS
from serving import sweep as sweeps
from serving.limits import HostLimits
from serving.sweep import SINGLE

PERCENT = ".2%"  # errors in the CLI's tables: two decimals, as the paper's Table 6 (8.75%, 6.43%)


def add_sweep_parser(commands: Any) -> None:
    sweep = commands.add_parser("sweep", help="train a grid of configs, one cached job per cell, locally or on Ray")
    defaults = ExperimentConfig()
    for name, spec in FIELDS.items():
        kind = "one value" if name in SINGLE else "comma list" + (" or a-b range" if spec.kind is int else "")
        extra = f" ({kind}; {describe_range(name)}; default {getattr(defaults, name)!r})"
        sweep.add_argument("--" + name.replace("_", "-"), dest=name, help=spec.help + extra)
    sweep.add_argument("--preset", choices=sorted(PRESETS), help="start from a named recipe; options given beside it win")
    sweep.add_argument("--ray", action="store_true", help="run on Ray: the cluster at RAY_ADDRESS, else one started here")
    sweep.add_argument("--workers", type=int, help="local backend: cells at once (default: cores / threads)")
    sweep.add_argument("--cpus-per-cell", type=float, help="Ray: CPUs a cell reserves (default: the host's torch threads)")
    sweep.add_argument("--gpus-per-cell", type=float, default=0.0, help="Ray: GPUs a cell reserves, 0.25 shares one by 4")
    sweep.add_argument("--quiet", action="store_true", help="no progress bar")


def sweep_configs(args: argparse.Namespace) -> list[ExperimentConfig]:
    """The grid the options describe: each field's list, else the preset's value, else the default."""
    preset, defaults = PRESETS.get(args.preset or "", {}), ExperimentConfig()
    values = {}
    for name in FIELDS:
        text = getattr(args, name)
        values[name] = sweeps.parse_list(name, text) if text is not None else [preset.get(name, getattr(defaults, name))]
    return sweeps.grid(values)


def backend_for(args: argparse.Namespace, limits: HostLimits) -> sweeps.Backend:
    threads = limits.threads or 1
    address = os.environ.get("RAY_ADDRESS")
    if args.ray or address:
        try:
            from serving import ray_backend  # Ray only when asked for: requirements-cluster.txt
        except ImportError as error:
            raise ValueError(f"--ray: {error}; pip install -r requirements-cluster.txt") from None
        ray_backend.connect(address or None)
        return ray_backend.RayBackend(cpus=args.cpus_per_cell or threads, gpus=args.gpus_per_cell, threads=threads)
    workers = args.workers or limits.max_concurrent or max(1, (os.cpu_count() or 1) // threads)
    return sweeps.LocalBackend.start(workers, threads)


def compute(todo: list[ExperimentConfig], backend: sweeps.Backend, fields: list[str], quiet: bool) -> int:
    """Run the missing cells with a progress bar; one stderr line per cell that failed or could not be stored."""
    failed = 0
    with tqdm(total=len(todo), desc="cells", unit="cell", file=sys.stderr, disable=quiet) as bar:
        for outcome in sweeps.run(todo, backend):
            bar.update()
            if outcome.state != sweeps.DONE or not outcome.stored:
                failed += 1
                why = outcome.message or "not stored: over the cache's budget or refused by its disk (RESNET_LAB_CACHE_MB)"
                tqdm.write(f"{sweeps.cell_label(outcome.config, fields)}: {outcome.state}: {why}", file=sys.stderr)
    return failed


def sweep_main(parser: argparse.ArgumentParser, args: argparse.Namespace) -> int:
    """Schedule the missing cells, store each as it finishes, then print the table of every cell the cache holds.

    Exit status: 0 when every cell is stored, 1 when some failed, 130 when stopped with Ctrl-C (finished cells stay stored).
    """
    status, backend = 0, None
    try:
        if args.workers is not None and args.workers < 1:
            raise ValueError(f"--workers: {args.workers} is not a positive number of worker processes")
        limits = HostLimits.from_settings()
        configs = sweep_configs(args)
        todo = sweeps.missing(configs)
        if todo:
            print(f"{len(configs) - len(todo)} of {len(configs)} cells stored already; computing {len(todo)}", file=sys.stderr)
            backend = backend_for(args, limits)
            status = 1 if compute(todo, backend, sweeps.varying(configs), args.quiet) else 0
    except (ValueError, OSError) as error:  # a bad option, an unreachable cluster, a missing data set: before any cell ran
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    except KeyboardInterrupt:
        print("stopped: the cells finished so far are stored; run the same command to compute the rest", file=sys.stderr)
        status = 130
    finally:
        if backend is not None:
            backend.close()
    print(sweep_table(sweeps.stored_sweep(configs)))
    return status


def sweep_table(stored: sweeps.StoredSweep) -> str:
    """Per cell the final errors of both nets; per setting their mean [min–max] over seeds; then the cells missing."""
    lines = []
    if len(stored.cells):
        cells = stored.cells.assign(**{e: stored.cells[e].map(f"{{:{PERCENT}}}".format) for e in sweeps.ERRORS})
        lines += ["Final error per cell:", by_net(cells, stored.fields, sweeps.ERRORS).to_string()]
    if len(stored.summary):
        summary = stored.summary.assign(**{e: seed_ranges(stored.summary, e) for e in sweeps.ERRORS})
        settings = [f for f in stored.fields if f != "seed"]
        table = by_net(summary, settings, sweeps.ERRORS)
        table.insert(0, "seeds", by_net(summary, settings, ("seeds",)).min(axis=1))
        lines += ["", "Mean [min–max] over seeds:", table.to_string()]
    if stored.missing:
        labels = ", ".join(sweeps.cell_label(c, stored.fields) for c in stored.missing)
        lines += ["", f"Missing {len(stored.missing)} of {len(stored.missing) + len(stored.cells) // 2} cells: {labels}"]
    return "\n".join(lines)


def by_net(frame: pd.DataFrame, index: list[str], values: tuple[str, ...]) -> pd.DataFrame:
    """One row per cell (or setting), columns "plain train_error" ... "residual test_error"."""
    frame = frame.assign(cell=0) if not index else frame
    wide = frame.pivot(index=index or ["cell"], columns="variant", values=list(values))
    return wide[[(value, v) for v in VARIANTS for value in values]].set_axis(
        [f"{v} {value}" for v in VARIANTS for value in values], axis=1
    )


def seed_ranges(summary: pd.DataFrame, error: str) -> list[str]:
    """Each setting's `error` as mean [min–max] over its seeds, written as every page writes a spread."""
    columns = [summary[f"{error}_{stat}"] for stat in ("mean", "low", "high")]
    return [range_text(*values, PERCENT) for values in zip(*columns, summary["seeds"], strict=True)]
