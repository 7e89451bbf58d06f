"""The performance suite: `python benchmarks/run.py [--quick]` prints one table and writes benchmarks/RESULTS.md.

Every comparison is a ratio measured within this one run, the two sides interleaved round by
round, so the noise of a shared machine hits both alike (median of the per-round ratios).
Absolute times (latencies, lesson times) are what this machine gave now; the load average is
recorded next to them. Nothing here fails on time: these are figures, not tests.

Sections (issues 6 and 15): 0 the lab against what a user would run instead (benchmarks/peers.py),
1 instrumentation overhead, 2 efficiency, 3 pairing, 4 interactive latency, 5 lesson times (empty cache, and warmed in Chromium)
(benchmarks/lessons.py), 6 memory, 7 browser latency (6 and 7 in benchmarks/serve.py), 8 scale curves
(benchmarks/scale_curves.py), plus the engine choices measured the same way (layout, threads).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

if __name__ == "__main__":  # run as a script: its folder is on sys.path, the repository (the lab, benchmarks/) is not
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")  # what importing resnet_core sets; torch is imported first here

import torch
import torch.nn.functional as F
from torch.utils.flop_counter import FlopCounterMode

from benchmarks import ROOT, serve
from benchmarks.lessons import lesson_rows, warmed_rows
from benchmarks.peers import peer_rows
from benchmarks.scale_curves import scale_rows
from lab.pages import GRADIENT_FLOW
from resnet_core import ExperimentConfig, measure_init, train
from resnet_core.data import load_dataset
from resnet_core.models import build_pair
from resnet_core.paired import PairedStack
from resnet_core.results import RunLog
from resnet_core.specs import VARIANTS
from resnet_core.training import _train_step, make_optimizer


@dataclass
class Row:
    section: str
    name: str
    value: float
    unit: str
    target: str = ""
    met: bool | None = None
    note: str = ""


def interleaved(
    fns: dict[str, Callable[[], object]], rounds: int, reps: int, clock: Callable[[], float] = time.perf_counter
) -> dict[str, list[float]]:
    """Seconds per call of each function, one list entry per round; the functions take turns within a round.

    `clock=time.process_time` counts this process's CPU time: on a machine with more runnable threads
    than cores, wall time also counts the waits for a core, which no code change here can move.
    """
    times: dict[str, list[float]] = {name: [] for name in fns}
    for fn in fns.values():
        fn()  # warm-up: first-call allocations and oneDNN primitive creation
    for _ in range(rounds):
        for name, fn in fns.items():
            start = clock()
            for _ in range(reps):
                fn()
            times[name].append((clock() - start) / reps)
    return times


def ratio(times: dict[str, list[float]], top: str, bottom: str) -> float:
    return statistics.median(a / b for a, b in zip(times[top], times[bottom], strict=True))


class PairStep:
    """One engine training step of a pair (what train() runs per step, host transfer included)."""

    def __init__(self, config: ExperimentConfig, channels_last: bool = True) -> None:
        x, y, _, _ = load_dataset(config)
        self.nets = build_pair(config, x.shape[1:], 10)
        self.pair = PairedStack.of_nets(self.nets["plain"], self.nets["residual"], channels_last=channels_last)
        self.optimizer = make_optimizer(config, self.pair)
        self.optimizers = {v: make_optimizer(config, net) for v, net in self.nets.items()}
        self.xb, self.yb = x[: config.batch_size], y[: config.batch_size]

    def paired(self, measured: bool = False) -> None:
        losses, wrong, measurements = _train_step(self.pair, self.optimizer, self.xb, self.yb, measured, list(VARIANTS))
        torch.cat([losses, wrong, *measurements.values()]).cpu().tolist()

    def one_by_one(self) -> None:
        """The straightforward way: each net its own forward, backward and update, one after the other."""
        values = []
        for v, net in self.nets.items():
            logits = net(self.xb)
            loss = F.cross_entropy(logits, self.yb)
            self.optimizers[v].zero_grad(set_to_none=True)
            loss.backward()
            self.optimizers[v].step()
            values += [loss.detach(), (logits.detach().argmax(1) != self.yb).float().mean()]
        torch.stack(values).cpu().tolist()


def instrumentation(quick: bool) -> list[Row]:
    """Section 1, at one thread (the app's workers), in CPU time: every-step and default-cadence measurement vs none,
    and two common gradient loggers on the same paired step, per parameter and net."""
    step = PairStep(ExperimentConfig(depth=56))
    flat = step.pair.flat  # every parameter of the pair; its gradient split per parameter and net below

    def halves(grad: torch.Tensor) -> list[torch.Tensor]:
        return [half for t in step.pair._views(grad.detach()).values() for half in t.chunk(len(VARIANTS))]

    def with_hook(register: Callable) -> Callable[[], None]:
        def run() -> None:
            handle = register()
            step.paired()
            handle.remove()

        return run

    def log_histogram(grad: torch.Tensor) -> None:  # experiment trackers' gradient logging: 64 bins, copied per net and tensor
        for half in halves(grad):
            torch.histc(half, bins=64).tolist()

    def log_abs_mean(param: torch.Tensor) -> None:  # the common "plot grad flow" snippet: one .item() per net and layer
        for half in halves(param.grad):
            half.abs().mean().item()

    def histogram() -> Any:
        return flat.register_hook(log_histogram)

    def abs_mean() -> Any:
        return flat.register_post_accumulate_grad_hook(log_abs_mean)

    def run_of(steps: int, measure_first: bool) -> Callable[[], None]:  # train()'s default cadence: one step in five measured
        return lambda: [step.paired(measured=measure_first and i == 0) for i in range(steps)]

    every = ExperimentConfig().measure_every
    with threads(1):
        times = interleaved(
            {
                "bare": step.paired,
                "measured": lambda: step.paired(measured=True),
                "histogram": with_hook(histogram),
                "abs_mean": with_hook(abs_mean),
                "bare_run": run_of(every, False),
                "cadence_run": run_of(every, True),
            },
            5 if quick else 15,
            3,
            time.process_time,
        )
    note = "CNN-56 pair, digits, batch 64, paired step, 1 thread, CPU time"
    return [
        Row(
            "1 instrumentation",
            "all per-layer measurements every step / none",
            ratio(times, "measured", "bare"),
            "x",
            "<= 1.05",
            ratio(times, "measured", "bare") <= 1.05,
            note,
        ),
        Row(
            "1 instrumentation",
            f"measured every {every} steps (the default) / none",
            ratio(times, "cadence_run", "bare_run"),
            "x",
            "<= 1.02",
            ratio(times, "cadence_run", "bare_run") <= 1.02,
            f"runs of {every} steps",
        ),
        Row("1 instrumentation", "reference: 64-bin histogram hook / none", ratio(times, "histogram", "bare"), "x", note=note),
        Row("1 instrumentation", "reference: .abs().mean().item() loop / none", ratio(times, "abs_mean", "bare"), "x", note=note),
    ]


@contextmanager
def threads(n: int) -> Iterator[int]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield n
    finally:
        torch.set_num_threads(before)


def thread_counts() -> list[int]:
    """The engine's default (all cores) and one thread: on a loaded machine the two differ by far more than cores."""
    return sorted({torch.get_num_threads(), 1}, reverse=True)


def matmul_rate() -> float:
    a, b = torch.randn(2048, 2048), torch.randn(2048, 2048)
    times = interleaved({"mm": lambda: a @ b}, 7, 2)["mm"]
    return 2 * 2048**3 / statistics.median(times)


def efficiency(quick: bool) -> list[Row]:
    """Section 2: achieved FLOP/s of a CNN-56 training step / this machine's 2048x2048 float32 matmul rate."""
    rows = []
    for n in thread_counts()[-1:] if quick else thread_counts():  # quick: one thread, where the target is
        with threads(n):
            peak = matmul_rate()
            rows.append(Row("2 efficiency", f"float32 matmul 2048x2048, {n} thread(s)", peak / 1e9, "GFLOP/s"))
            for batch in (128, 32):
                step = PairStep(ExperimentConfig(depth=56, batch_size=batch))
                with FlopCounterMode(display=False) as counter:
                    step.paired()
                flops = counter.get_total_flops()
                times = interleaved({"paired": step.paired, "one_by_one": step.one_by_one}, 3 if quick else 7, 3)
                for name, label in (("paired", "paired step (engine)"), ("one_by_one", "one net after the other")):
                    value = flops / statistics.median(times[name]) / peak
                    engine = name == "paired" and batch == 32 and n == 1  # the target: batch 32, one thread
                    rows.append(
                        Row(
                            "2 efficiency",
                            f"CNN-56 batch {batch}, {n} thread(s): {label}",
                            value,
                            "of matmul",
                            ">= 0.5" if engine else "",
                            value >= 0.5 if engine else None,
                            f"{flops / 1e9:.2f} GFLOP per pair step, width 8; {1e3 * statistics.median(times[name]):.0f} ms",
                        )
                    )
    return rows


def pairing(quick: bool) -> list[Row]:
    """Section 3: both nets in one batched computation / one after the other."""
    rows = []
    for n in thread_counts():
        with threads(n):
            for batch in (32, 128):
                step = PairStep(ExperimentConfig(depth=56, batch_size=batch))
                times = interleaved({"paired": step.paired, "one_by_one": step.one_by_one}, 5 if quick else 15, 3)
                value = ratio(times, "paired", "one_by_one")
                target = batch == 32
                rows.append(
                    Row(
                        "3 pairing",
                        f"CNN-56 batch {batch}, {n} thread(s): together / one after the other",
                        value,
                        "x",
                        "<= 0.7" if target else "",
                        value <= 0.7 if target else None,
                        f"{1e3 * statistics.median(times['paired']):.0f} ms vs "
                        f"{1e3 * statistics.median(times['one_by_one']):.0f} ms",
                    )
                )
    return rows


def layout_and_threads(quick: bool) -> list[Row]:
    """Engine choices measured, not guessed: channels_last, and one thread vs all cores."""
    rows = []
    for batch in (32, 64, 128):
        engine = PairStep(ExperimentConfig(depth=56, batch_size=batch))
        nchw = PairStep(ExperimentConfig(depth=56, batch_size=batch), channels_last=False)
        times = interleaved({"nchw": nchw.paired, "cl": engine.paired}, 3 if quick else 9, 3)
        rows.append(Row("choices", f"channels_last (engine) / NCHW, batch {batch}", ratio(times, "cl", "nchw"), "x"))
    rows.append(projection_as_gemm(quick))
    cores = torch.get_num_threads()
    if cores > 1:
        step = PairStep(ExperimentConfig(depth=56))

        def one_thread() -> None:
            with threads(1):
                step.paired()

        times = interleaved({"one": one_thread, "all": step.paired}, 3 if quick else 9, 3)
        rows.append(
            Row(
                "choices",
                f"1 thread / {cores} threads, batch 64",
                ratio(times, "one", "all"),
                "x",
                note="above 1: the extra cores pay for one session",
            )
        )
    return rows


def projection_as_gemm(quick: bool) -> Row:
    """W_s as a GEMM (the engine; oneDNN's NHWC 1x1 stride-2 conv backward is broken on AVX2) vs the safe conv: NCHW copies."""
    step = PairStep(ExperimentConfig(depth=56, shortcut="B"))
    gemm = PairedStack.__dict__["_projection"]

    def nchw_conv(x: torch.Tensor, weight: torch.Tensor, stride: int) -> torch.Tensor:
        return F.conv2d(x.contiguous(), weight.contiguous(), None, stride).contiguous(memory_format=torch.channels_last)

    def with_projection(projection: Callable) -> Callable[[], None]:
        def run() -> None:
            PairedStack._projection = projection
            step.paired()

        return run

    try:
        times = interleaved(
            {"gemm": with_projection(gemm), "conv": with_projection(staticmethod(nchw_conv))}, 3 if quick else 9, 3
        )
    finally:
        PairedStack._projection = gemm
    return Row(
        "choices",
        "W_s as a GEMM (engine) / as a 1x1 conv on NCHW copies",
        ratio(times, "gemm", "conv"),
        "x",
        note="CNN-56 option B, batch 64, paired step",
    )


def latency(quick: bool) -> list[Row]:
    """Section 4: gradient norms at initialisation for a pair, as the landing page asks a warm worker (one thread)."""
    rows = []
    code = "import time; t = time.perf_counter(); import resnet_core; print(time.perf_counter() - t)"
    imported = float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    rows.append(Row("4 latency", "import resnet_core (fresh process)", imported, "s"))
    code = (
        "import time; from resnet_core import ExperimentConfig; from resnet_core.data import load_dataset; "
        "t = time.perf_counter(); load_dataset(ExperimentConfig()); print(time.perf_counter() - t)"
    )
    loaded = float(subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True).stdout)
    rows.append(Row("4 latency", "digits load, first time in a process", loaded, "s"))
    cases = [
        ("CNN-56", ExperimentConfig(depth=56), 0.15),
        ("CNN-1202", ExperimentConfig(depth=1202), 1.5),
        ("MLP-1000", ExperimentConfig(arch="mlp", depth=1000), 0.5),
    ]
    for name, config, target in cases:
        with threads(1):  # the app's job workers' count on this 2-core host (serving.limits), where the page's request runs
            list(measure_init(config.replace(depth=8 if config.arch == "cnn" else 2)))  # dataset cached, as in a running app
            seconds = []
            for _ in range(3):  # the first of a config also pays its allocations; the median is a worker's usual case
                start = time.perf_counter()
                list(measure_init(config))
                seconds.append(time.perf_counter() - start)
        value = statistics.median(seconds)
        rows.append(
            Row(
                "4 latency",
                f"measure_init pair {name}",
                value,
                "s",
                f"<= {target:g} s",
                value <= target,
                f"median of {len(seconds)}; first {seconds[0]:.2f} s",
            )
        )
    return rows


def peers(quick: bool) -> list[Row]:
    """Section 0 at one thread (the app's workers) and, in a full run, at torch's default (what a user's script gets)."""
    config = GRADIENT_FLOW.defaults
    with threads(1):
        rows = peer_rows(config, 1 if quick else 2, Row)
    if not quick and torch.get_num_threads() > 1:
        rows += peer_rows(config, 1, Row)
    return rows


def gradient_flow_train() -> list[Row]:
    """Section 5: the Gradient Flow default Train through the engine at one thread (the app's workers), with its effect."""
    config = GRADIENT_FLOW.defaults
    with threads(1):
        start, cpu = time.perf_counter(), time.process_time()
        log = RunLog(config).extend(train(config))
        seconds, cpu = time.perf_counter() - start, time.process_time() - cpu
    effect = (
        f"CPU time {cpu:.1f} s; final train error plain {log.final['plain']['train_error']:.2f}, residual {log.final['residual']['train_error']:.2f}; "
        f"init grad ratio plain {log.ratio('plain'):.0f}, residual {log.ratio('residual'):.1f}"
    )
    name = f"Gradient Flow default Train (depth {config.depth}, {config.steps} steps), 1 thread"
    return [Row("5 lessons", name, seconds, "s", "<= 5 s", seconds <= 5, effect)]


def machine() -> dict[str, str]:
    cpu = next(
        (
            line.split(":", 1)[1].strip()
            for line in Path("/proc/cpuinfo").read_text().splitlines()
            if line.startswith("model name")
        ),
        platform.processor(),
    )
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "torch threads": str(torch.get_num_threads()),
        "torch": torch.__version__,
        "device": device,
        "load average at start": " ".join(f"{x:.1f}" for x in os.getloadavg()),
    }


def table(rows: list[Row]) -> str:
    lines = ["| section | measurement | value | target | met | note |", "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        met = "" if r.met is None else ("yes" if r.met else "**no**")
        lines.append(f"| {r.section} | {r.name} | {r.value:.3g} {r.unit} | {r.target} | {met} | {r.note} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no app/browser sections: about a minute")
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("RESULTS.md"), help="where to write the figures")
    parser.add_argument("--no-app", action="store_true", help="skip sections 6-7 (they start `streamlit run app.py`)")
    args = parser.parse_args(argv)
    info = machine()
    rows: list[Row] = []
    sections = (
        lambda quick: peers(quick),
        instrumentation,
        efficiency,
        pairing,
        latency,
        layout_and_threads,
        lambda quick: gradient_flow_train(),
        lambda quick: [] if quick or args.no_app else lesson_rows(Row),
        lambda quick: [] if quick or args.no_app else warmed_rows(Row),
        lambda quick: serve.memory_and_browser(skip_app=quick or args.no_app),
        lambda quick: scale_rows(Row, quick),
    )
    for section in sections:
        try:
            new = section(args.quick)
        except Exception as error:  # one broken section must not lose the others' figures: it is recorded as a row
            new = [
                Row(
                    "failed",
                    f"{getattr(section, '__name__', 'section')}: {type(error).__name__}",
                    float("nan"),
                    "",
                    note=str(error)[:300],
                )
            ]
        rows += new
        print("\n".join(table(new).splitlines()[2:]), flush=True)
    info["load average at end"] = " ".join(f"{x:.1f}" for x in os.getloadavg())
    text = table(rows)
    print(text)
    header = "\n".join(f"- {k}: {v}" for k, v in info.items())
    write_results(args.out, header, text)
    return 0


def write_results(path: Path, header: str, text: str) -> None:
    """Replace the generated block of RESULTS.md; the hand-written analysis around it stays."""
    begin, end = "<!-- figures: generated by benchmarks/run.py -->", "<!-- end of figures -->"
    block = f"{begin}\n{header}\n\n{text}\n{end}"
    old = path.read_text() if path.exists() else ""
    if begin in old and end in old:
        new = old[: old.index(begin)] + block + old[old.index(end) + len(end) :]
    else:
        new = f"# Benchmarks\n\n{block}\n"
    path.write_text(new)
    print(f"wrote {path}")


if __name__ == "__main__":
    raise SystemExit(main())
