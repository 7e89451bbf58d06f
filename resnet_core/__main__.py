"""Command line over the same API the app uses: `python -m resnet_core run --depth 20,56 --out run.json`.

`lesion` and `paths` train one pair and then run that study (Veit et al. 2016) on it:
`python -m resnet_core lesion --depth 20 --out lesion.json --csv lesion.csv`.

`sweep` runs a grid of configs (`--depth 20,32,44 --seed 0-4 --shortcut A,B,C`), one cached job per
cell, on local worker processes or on Ray (`--ray` or RAY_ADDRESS), computing only the cells the shared
result cache lacks (serving/sweep_cli.py).

Every ExperimentConfig field is an option (help text from config.FIELDS); a comma list of
depths runs a sweep; progress goes to stderr; bad options, and --out / --csv paths that cannot be
written, exit 2 with one line before any training.
"""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import Any, NoReturn

import pandas as pd
from tqdm import tqdm

from resnet_core import cli_slices
from resnet_core.cli_io import check_writable, write_json
from resnet_core.config import FIELDS, ExperimentConfig, describe_range, parse_value
from resnet_core.lesion import after_training, lesion_study
from resnet_core.paths import path_study
from resnet_core.results import RunLog
from resnet_core.specs import DRAWS, PATH_DRAWS
from resnet_core.training import train
from serving import sweep_cli
from serving.limits import HostLimits, apply_thread_limit

STUDIES = {  # subcommand: (help, the study run after training, default draws)
    "lesion": ("train the pair, then delete blocks at test time (Veit et al. 2016) and write JSON / CSV", lesion_study, DRAWS),
    "paths": (
        "train the pair, then measure the residual net's gradient per path length (Veit et al. 2016)",
        path_study,
        PATH_DRAWS,
    ),
}


class OneLineParser(argparse.ArgumentParser):
    """argparse that reports a bad option in one line (no usage dump) and exits 2.

    The message quotes what was typed (argparse's "unrecognized arguments: ..." too), so a newline
    or other invisible character in an argument is written escaped, as Python writes it: one line.
    """

    def error(self, message: str) -> NoReturn:
        line = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in message)
        self.exit(2, f"{self.prog}: error: {line}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = OneLineParser(
        prog="python -m resnet_core", description="Train plain and residual nets side by side and record gradient flow."
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=OneLineParser)
    run = commands.add_parser("run", help="train one config, or a depth sweep, and write JSON / CSV")
    add_config_options(run, "comma list for a sweep, e.g. 20,56; ")
    run.add_argument("--csv", help="also write the per-layer records as a long CSV table")
    for name, (text, _, draws) in STUDIES.items():
        study = commands.add_parser(name, help=text)
        add_config_options(study, "")
        study.add_argument("--draws", default=str(draws), help=f"random draws per k (default {draws})")
        study.add_argument("--csv", help=f"also write the {name} records as a CSV table")
    cli_slices.add_parsers(commands)  # shattered, landscape
    sweep_cli.add_sweep_parser(commands)
    return parser


def add_config_options(command: argparse.ArgumentParser, depth_note: str) -> None:
    """Every ExperimentConfig field as an option (help from FIELDS), then --out and --quiet."""
    defaults = ExperimentConfig()
    for name, spec in FIELDS.items():
        default = getattr(defaults, name)
        extra = f" ({describe_range(name)}; default {default!r})"
        note = depth_note if name == "depth" else ""
        command.add_argument("--" + name.replace("_", "-"), dest=name, default=str(default), help=note + spec.help + extra)
    command.add_argument("--out", help="write the JSON result here (default: stdout)")
    command.add_argument("--quiet", action="store_true", help="no progress bar")


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


def run_study(args: argparse.Namespace) -> tuple[ExperimentConfig, list[dict[str, Any]]]:
    """Train the pair (progress on stderr), then the study's measurements: (config, its records)."""
    config = ExperimentConfig(**{name: parse_value(name, getattr(args, name)) for name in FIELDS})
    draws = parse_draws(args.draws)
    _, study, _ = STUDIES[args.command]
    records = []
    with tqdm(total=config.steps, desc=f"{args.command}, depth {config.depth}", file=sys.stderr, disable=args.quiet) as bar:
        for record in after_training(config, lambda m, d, c: study(m, d, c, draws)):
            if record["kind"] == "step" and record["variant"] == "residual":
                bar.update(record["step"] + 1 - bar.n)
            elif record["kind"] == args.command:  # a study's records are of its own kind
                records.append(record)
    return config, records


def parse_draws(raw: str) -> int:
    if not raw.strip().isdigit() or not 1 <= int(raw) <= 100:
        raise ValueError(f"draws: {raw!r} is not a whole number from 1 to 100")
    return int(raw)


def study_output(args: argparse.Namespace) -> tuple[dict[str, Any], pd.DataFrame, list[str]]:
    """`lesion` / `paths`: the JSON document, the CSV table (one row a record) and no summary lines."""
    config, records = run_study(args)
    return {"config": dataclasses.asdict(config), args.command: records}, pd.DataFrame.from_records(records), []


def run_output(args: argparse.Namespace) -> tuple[dict[str, Any], pd.DataFrame, list[str]]:
    """`run`: the JSON document of every run, the long per-layer CSV table and one summary line per net."""
    configs = configs_from_args(args)
    logs = run_sweep(configs, args.quiet)
    result = {
        "config": logs[0].to_json()["config"] | {"depth": [c.depth for c in configs]},
        "runs": [run for log in logs for run in log.to_json()["runs"]],
    }
    table = pd.concat([log.export_frame().assign(depth=log.config.depth) for log in logs], ignore_index=True)
    table = table[["depth", *[c for c in table.columns if c != "depth"]]]
    return result, table, [summary(log, v) for log in logs for v in ("plain", "residual")]


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "sweep":
        return sweep_cli.sweep_main(parser, args)
    try:
        apply_thread_limit(HostLimits.from_settings())  # 1 torch thread unless RESNET_LAB_THREADS says otherwise
        for option, path in (("--out", args.out), ("--csv", args.csv)):
            if path:
                check_writable(option, path)
        output = cli_slices.RESULTS.get(args.command) or (study_output if args.command in STUDIES else run_output)
        result, table, lines = output(args)
    except (ValueError, FileNotFoundError) as error:
        parser.error(str(error))
    write_json(result, args.out)
    if args.csv:
        table.to_csv(args.csv, index=False)
    for line in lines:
        print(line, file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
