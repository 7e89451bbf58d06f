"""Command line over the same API the app uses: `python -m resnet_core run --depth 20,56 --out run.json`.

`run` trains one config or a depth sweep here and writes JSON / CSV. `sweep` runs a grid of
configs (`--depth 20,32,44 --seed 0-4 --shortcut A,B,C`), one cached job per cell, on local worker
processes or on Ray (`--ray` or RAY_ADDRESS), computing only the cells the shared result cache
lacks, and prints a table. Every ExperimentConfig field is an option (help text from
config.FIELDS); progress goes to stderr; bad options, and --out / --csv paths that cannot be
written, exit 2 with one line before any training.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
from typing import Any, NoReturn

import pandas as pd
from tqdm import tqdm

from resnet_core.config import FIELDS, PRESETS, ExperimentConfig, describe_range, parse_value
from resnet_core.models import VARIANTS
from resnet_core.results import RunLog, json_safe
from resnet_core.training import train
from serving import sweep as sweeps
from serving.limits import HostLimits, apply_thread_limit
from serving.sweep import SINGLE


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage dump) and exits 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m resnet_core", description="Train plain and residual nets side by side and record gradient flow."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="train one config, or a depth sweep, and write JSON / CSV")
    defaults = ExperimentConfig()
    for name, spec in FIELDS.items():
        default = getattr(defaults, name)
        extra = f" ({describe_range(name)}; default {default!r})"
        if name == "depth":
            run.add_argument("--depth", default=str(default), help="comma list for a sweep, e.g. 20,56; " + spec.help + extra)
        else:
            run.add_argument("--" + name.replace("_", "-"), dest=name, default=str(default), help=spec.help + extra)
    run.add_argument("--out", help="write the JSON result here (default: stdout)")
    run.add_argument("--csv", help="also write the per-layer records as a long CSV table")
    run.add_argument("--quiet", action="store_true", help="no progress bar")
    add_sweep_parser(commands)
    return parser


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


def configs_from_args(args: argparse.Namespace) -> list[ExperimentConfig]:
    values: dict[str, Any] = {name: parse_value(name, getattr(args, name)) for name in FIELDS if name != "depth"}
    depths = [parse_value("depth", d) for d in str(args.depth).split(",") if d.strip()]
    if not depths:
        raise ValueError("depth: empty; give one depth or a comma list such as 20,56")
    return [ExperimentConfig(depth=d, **values) for d in depths]


def run_sweep(configs: list[ExperimentConfig], quiet: bool = False) -> list[RunLog]:
    logs = []
    for config in configs:
        log = RunLog(config)
        with tqdm(total=config.steps, desc=f"depth {config.depth}", unit="step", file=sys.stderr, disable=quiet) as bar:
            for record in train(config):
                log.add(record)
                if record["kind"] == "step" and record["variant"] == "residual":
                    bar.update(record["step"] + 1 - bar.n)
            bar.update(config.steps - bar.n)
        logs.append(log)
    return logs


def check_writable(option: str, path: str) -> None:
    """Raise ValueError naming `option` when `path` cannot be written, so a long run never ends in a traceback.

    Opening for append is the check the OS itself makes (missing folder, a folder, a name too long,
    no permission); it leaves an existing file as it was and removes a file it had to create.
    """
    existed = os.path.lexists(path)
    try:
        with open(path, "a"):
            pass
    except OSError as error:
        raise ValueError(f"{option} {path}: cannot write there ({error.strerror or error})") from None
    if not existed:
        os.unlink(path)


def summary(log: RunLog, variant: str) -> str:
    """One stderr line per net. With --steps 0 no gradient is taken, so there is no ratio, and the error is the initial one."""
    final = log.final[variant]
    head = f"depth {log.config.depth:>4} {variant:>8}: "
    if log.config.steps == 0:
        return head + f"no training step, so no gradient measured; train error at init {final['train_error']:.3f}"
    return (
        head
        + f"grad ratio first/last at init {log.ratio(variant):.3g}, final train error {final['train_error']:.3f}"
        + (f" (diverged at step {final['diverged_at']})" if final["diverged"] else "")
    )


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
    """Per cell the final errors of both nets; per setting their mean ± std over seeds; then the cells missing."""
    lines = []
    if len(stored.cells):
        cells = stored.cells.assign(**{e: stored.cells[e].map("{:.2%}".format) for e in sweeps.ERRORS})
        lines += ["Final error per cell:", by_net(cells, stored.fields, sweeps.ERRORS).to_string()]
    if len(stored.summary):
        summary = stored.summary.assign(
            **{
                e: [spread(m, s) for m, s in zip(stored.summary[f"{e}_mean"], stored.summary[f"{e}_std"], strict=True)]
                for e in sweeps.ERRORS
            }
        )
        settings = [f for f in stored.fields if f != "seed"]
        table = by_net(summary, settings, sweeps.ERRORS)
        table.insert(0, "seeds", by_net(summary, settings, ("seeds",)).min(axis=1))
        lines += ["", "Mean ± std over seeds:", table.to_string()]
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


def spread(mean: float, std: float) -> str:
    return f"{mean:.2%} ± {std:.2%}" if math.isfinite(std) else f"{mean:.2%}"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return sweep_main(parser, args)
    try:
        apply_thread_limit(HostLimits.from_settings())  # 1 torch thread unless RESNET_LAB_THREADS says otherwise
        configs = configs_from_args(args)
        for option, path in (("--out", args.out), ("--csv", args.csv)):
            if path:
                check_writable(option, path)
        logs = run_sweep(configs, args.quiet)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    result = json_safe(
        {
            "config": logs[0].to_json()["config"] | {"depth": [c.depth for c in configs]},
            "runs": [run for log in logs for run in log.to_json()["runs"]],
        }
    )
    text = json.dumps(result, indent=1)
    if args.out:
        with open(args.out, "w") as f:
            f.write(text)
    else:
        print(text)
    if args.csv:
        frames = [log.export_frame().assign(depth=log.config.depth) for log in logs]
        table = pd.concat(frames, ignore_index=True)
        table[["depth", *[c for c in table.columns if c != "depth"]]].to_csv(args.csv, index=False)
    for log in logs:
        for v in ("plain", "residual"):
            print(summary(log, v), file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
