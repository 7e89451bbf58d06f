"""Command line over the same API the app uses: `python -m resnet_core run --depth 20,56 --out run.json`.

Every ExperimentConfig field is an option (help text from config.FIELDS); a comma list of
depths runs a sweep; progress goes to stderr; bad options, and --out / --csv paths that cannot be
written, exit 2 with one line before any training.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any, NoReturn

import pandas as pd
from tqdm import tqdm

from resnet_core import cli_slices
from resnet_core.cli_io import check_writable, write_json
from resnet_core.config import FIELDS, ExperimentConfig, describe_range, parse_value
from resnet_core.results import RunLog
from resnet_core.training import train
from serving.limits import HostLimits, apply_thread_limit


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
    cli_slices.add_parsers(commands)  # shattered, landscape
    return parser


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


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command in cli_slices.RESULTS:
        apply_thread_limit(HostLimits.from_settings())
        return cli_slices.main(parser, args)
    try:
        apply_thread_limit(HostLimits.from_settings())  # 1 torch thread unless RESNET_LAB_THREADS says otherwise
        configs = configs_from_args(args)
        for option, path in (("--out", args.out), ("--csv", args.csv)):
            if path:
                check_writable(option, path)
        logs = run_sweep(configs, args.quiet)
    except (ValueError, FileNotFoundError) as error:
        parser.exit(2, f"{parser.prog}: error: {error}\n")
    result = {
        "config": logs[0].to_json()["config"] | {"depth": [c.depth for c in configs]},
        "runs": [run for log in logs for run in log.to_json()["runs"]],
    }
    write_json(result, args.out)
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
