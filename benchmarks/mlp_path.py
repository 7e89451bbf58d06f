"""The MLP path (issue 15): the thousand-layers lesson's paired step per layer, and its training in a warm job worker.

    python benchmarks/mlp_path.py [--baseline REV] [--rounds 3]

Each measurement is a fresh process at one torch thread, warmed as a job worker of its tree warms
(serving.worker.warm with server.WORKER_MODULES; a tree whose worker has no warm() imported the
modules alone), then: the lesson's training (the process's first, as a worker's first job), the
paired training step (CPU time per step over the 1000 layers: median of 5 rounds of 5 steps after 3
warm-up steps) and the lesson's training again. With --baseline, a git worktree of REV is measured
in processes alternating with this tree's, so the noise of a shared machine hits both alike; the
table gives the medians and their ratios, and the load average before and after.
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
LESSON = "thousand-layers"
FIGURES = {
    "step_us": "paired step per layer (CPU us)",
    "first_s": "lesson training, a worker's first job (wall s)",
    "again_s": "lesson training, again in that worker (wall s)",
}


def measure() -> dict[str, float]:
    """This process's figures for the lesson, with the code first on sys.path (a tree: child())."""
    import torch

    server, worker = importlib.import_module("server"), importlib.import_module("serving.worker")
    torch.set_num_threads(1)
    if hasattr(worker, "warm"):
        worker.warm(server.WORKER_MODULES)
    else:
        for module in server.WORKER_MODULES:
            importlib.import_module(module)
    from lab.lessons import LESSONS
    from resnet_core import ExperimentConfig, train
    from resnet_core.training import _setup, _train_step, make_optimizer, minibatch_indices

    config = ExperimentConfig.from_params(dict(next(lesson for lesson in LESSONS if lesson.name == LESSON).params))

    def lesson_seconds() -> float:
        start = time.perf_counter()
        for _ in train(config):
            pass
        return time.perf_counter() - start

    first = lesson_seconds()
    (x, y, *_), pair, _ = _setup(config)
    optimizer = make_optimizer(config, pair)
    index = next(minibatch_indices(config, len(x)))
    step = lambda: _train_step(pair, optimizer, x[index], y[index], False, ["plain", "residual"])  # noqa: E731
    for _ in range(3):
        step()
    rounds = []
    for _ in range(5):
        start = time.process_time()
        for _ in range(5):
            step()
        rounds.append((time.process_time() - start) / 5)
    return {"step_us": statistics.median(rounds) / config.depth * 1e6, "first_s": first, "again_s": lesson_seconds()}


def child(tree: Path) -> dict[str, float]:
    """measure(tree) in a fresh process: this file run with --child, the tree's code first on its path."""
    command = [sys.executable, __file__, "--child", str(tree)]
    env = os.environ | {"RESNET_LAB_THREADS": "1"}
    out = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", help="a git revision to compare with, measured in alternating processes")
    parser.add_argument("--rounds", type=int, default=3, help="processes per tree")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)  # measure this tree and print JSON (child())
    args = parser.parse_args()
    if args.child:
        sys.path[0] = str(args.child)  # the tree's code, not this script's folder
        print(json.dumps(measure()))
        return
    print(f"load average before: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")
    with tempfile.TemporaryDirectory() as scratch:
        trees = {"new": HERE}
        if args.baseline:
            trees = {"old": Path(scratch) / "baseline", **trees}
            subprocess.run(["git", "worktree", "add", "-q", "--detach", str(trees["old"]), args.baseline], cwd=HERE, check=True)
        try:
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in trees}
            for _ in range(args.rounds):
                for name, tree in trees.items():
                    runs[name].append(child(tree))
        finally:
            if args.baseline:
                subprocess.run(["git", "worktree", "remove", "--force", str(trees["old"])], cwd=HERE, check=True)
    print(f"load average after: {' '.join(f'{v:.2f}' for v in os.getloadavg())}\n")
    print("| figure | " + " | ".join(f"{name} (each process)" for name in runs) + (" | new / old |" if args.baseline else " |"))
    print("|---" * (len(runs) + 1 + bool(args.baseline)) + "|")
    for key, label in FIGURES.items():
        cells = [", ".join(f"{r[key]:.3g}" for r in runs[name]) for name in runs]
        medians = {name: statistics.median(r[key] for r in runs[name]) for name in runs}
        ratio = f" | **{medians['new'] / medians['old']:.2f}x** |" if args.baseline else " |"
        print(f"| {label} | " + " | ".join(cells) + ratio)


if __name__ == "__main__":
    main()
