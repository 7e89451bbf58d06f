"""The cost of a request, from its config alone: FLOPs, per-layer overhead and peak memory, and the refusals.

The host caps it (serving.limits: RESNET_LAB_MAX_GFLOP, RESNET_LAB_MAX_MEMORY_MB, RESNET_LAB_MAX_SWEEP);
this module counts it and says, when a request is over, what would fit.

The cost is counted analytically (no model is built: it runs on every page
load): the FLOPs of the actual layers of both nets (3x3 convs with widths w, 2w, 4w on halving maps,
projection shortcuts, dense layers; 2 per multiply-add, backward twice the forward, as
torch.utils.flop_counter counts them), for every training step, every evaluation over the whole
train and test sets and the init measurement, plus a fixed overhead per layer call, measured for conv
and dense layers with and without BN (LAYER_STEP_SECONDS). That overhead is why the budget is not FLOPs
alone: a 1000-layer MLP of width 8 does little arithmetic, yet each layer's forward and backward costs
~0.1 ms of kernel launches and bookkeeping on one core, so it is counted as the FLOPs that time buys.
Memory is the data set, the weights (with gradients and optimiser state) and the larger of the
activations kept for backward at the batch size and those of an evaluation chunk. docs/RELIABILITY.md
("Cost budget") has the model checked against FlopCounterMode and measured memory, and times on the
reference machine; tests/test_cost.py holds it to the reference machine's first-view times.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import NamedTuple

from resnet_core.config import MAX_CNN_DEPTH, MAX_MLP_DEPTH, ExperimentConfig
from resnet_core.data import N_CLASSES, dataset_info, split_sizes
from resnet_core.specs import EVAL_BATCH
from serving.limits import HostLimits

# Calibrated on the 2-core reference machine at one torch thread (docs/RELIABILITY.md, "Cost budget").
REFERENCE_GFLOPS = 64.0  # arithmetic rate of the engine's convs and matmuls on one core
# The fixed cost of one weight layer in a paired training step (forward + backward of both nets, with the layer's
# norm, activation and shortcut) beyond its arithmetic, by kind of layer and normalisation: a conv layer (oneDNN on
# NHWC maps) costs several times a thin dense one (one baddbmm), and a BN adds its own kernels to either. One figure
# for every layer (0.3 ms, x 11 for a first view) priced a thin MLP's first view 8-25x high. Measured by
# `python -m benchmarks.cost_model --layer-costs` (CPU time at one thread, 2026-11-23 at load 4.8; the slope of a
# paired step over the layers of a deep probe, its arithmetic at REFERENCE_GFLOPS taken out; benchmarks/RESULTS.md,
# "fifth stop: cost model"): dense MLP-1000 166.5 us with BN, 98.6 without; conv CNN-302 405.1 us, 165.0 without.
LAYER_STEP_SECONDS = {
    ("dense", "batch"): 166e-6,
    ("dense", "none"): 99e-6,
    ("conv", "batch"): 405e-6,
    ("conv", "none"): 165e-6,
}
# The init view's cost beyond one step's, per layer, in that layer's steps (same measurement): building the pair from
# the config, and the measurement's reductions (a BN-less CNN's block moments are GEMVs over its maps, not BN's
# own statistics). Training builds the pair too.
SETUP_LAYER_STEPS = {("dense", "batch"): 1.0, ("dense", "none"): 0.28, ("conv", "batch"): 1.35, ("conv", "none"): 4.4}
EVAL_LAYER_STEP = 1 / 3  # a forward-only layer call of an evaluation chunk
BYTES = 4  # float32


class _Layer(NamedTuple):
    """`count` identical weight layers of one net: multiply-adds, output elements and weights per sample; dense or conv."""

    macs: int
    outputs: int
    weights: int
    count: int = 1
    dense: bool = False


def _conv(c_in: int, c_out: int, kernel: int, stride: int, size: Sequence[int], count: int = 1) -> _Layer:
    h, w = ((n - 1) // stride + 1 for n in size)  # padding kernel // 2: a stride-2 conv gives ceil(n / 2)
    return _Layer(kernel * kernel * c_in * c_out * h * w, c_out * h * w, kernel * kernel * c_in * c_out, count)


def _layers(config: ExperimentConfig) -> tuple[list[_Layer], list[_Layer]]:
    """One net's main path (stem first, classifier last) and the residual net's projection shortcuts, in closed form.

    Stages repeat one shape, so the list has a few entries whatever the depth: the estimate stays
    microseconds at depth 1202.
    """
    w, classes = config.width, N_CLASSES[config.dataset]
    if config.arch == "mlp":
        inputs = math.prod(dataset_info(config).in_shape)
        hidden = _Layer(w * w, w, w * w, config.depth, dense=True)
        main = [_Layer(inputs * w, w, inputs * w, dense=True), hidden, _Layer(w * classes, classes, w * classes, dense=True)]
        return main, [hidden._replace(count=config.depth // 2)] if config.shortcut == "C" else []
    channels, *size = dataset_info(config).in_shape  # the resized side when image_size is set
    n = (config.depth - 2) // 6
    main, projections = [_conv(channels, w, 3, 1, size)], []
    c_in = w
    for stage, c_out in enumerate((w, 2 * w, 4 * w)):
        stride = 2 if stage else 1
        if config.shortcut == "C" or (config.shortcut == "B" and stage):
            projections.append(_conv(c_in, c_out, 1, stride, size))
        main.append(_conv(c_in, c_out, 3, stride, size))
        size = [(s - 1) // stride + 1 for s in size]
        main.append(_conv(c_out, c_out, 3, 1, size, 2 * n - 1))
        if config.shortcut == "C" and n > 1:
            projections.append(_conv(c_out, c_out, 1, 1, size, n - 1))
        c_in = c_out
    main.append(_Layer(c_in * classes, classes, c_in * classes, dense=True))
    return main, projections


def evaluations(config: ExperimentConfig) -> int:
    """Full evaluations of train(config): at step 0, every eval_every steps and at the last step."""
    steps = config.steps
    return 1 + steps // config.eval_every + (steps % config.eval_every != 0)


@dataclass(frozen=True)
class Cost:
    """What one request computes: the init measurement and train(config), both nets of the pair."""

    flops: int  # conv and matmul FLOPs, as torch.utils.flop_counter counts them
    overhead_flops: float  # the fixed cost of every layer call, as the FLOPs that time buys at REFERENCE_GFLOPS
    peak_bytes: int

    @property
    def gflop(self) -> float:
        """The work the budget counts: arithmetic plus the fixed cost of every layer call."""
        return (self.flops + self.overhead_flops) / 1e9

    @property
    def seconds(self) -> float:
        """Rough time on one core of the reference machine."""
        return self.gflop / REFERENCE_GFLOPS

    @property
    def memory_mb(self) -> float:
        return self.peak_bytes / 2**20


def estimate_cost(config: ExperimentConfig, *, train: bool = True) -> Cost:
    """The cost of `config` from its fields alone: FLOPs of its layers, per-call overhead and peak memory.

    train=False: the init measurement alone, a page's first view (both nets built, one forward + backward,
    no update, no evaluation); its memory is bounded by the training's peak, which it keeps.
    """
    main, projections = _layers(config)
    n_train, n_test = split_sizes(config)
    batch = min(config.batch_size, n_train)  # minibatch_indices never draws more than the training set
    # Per sample, both nets: the main path twice, the projections in the residual net only.
    forward = 2 * (2 * sum(x.macs * x.count for x in main) + sum(x.macs * x.count for x in projections))
    no_input_grad = 2 * 2 * main[0].macs  # the stem's input needs no gradient: its backward is the weight gradient only
    step = batch * (3 * forward - no_input_grad)
    steps, evals = (config.steps, evaluations(config)) if train else (0, 0)
    # With BN an evaluation first re-estimates the statistics: one more forward pass over the training set.
    train_passes = 2 if config.norm == "batch" else 1
    flops = step * (steps + 1) + evals * (train_passes * n_train + n_test) * forward
    chunks = train_passes * math.ceil(n_train / EVAL_BATCH) + math.ceil(n_test / EVAL_BATCH)
    calls = steps + 1 + evals * chunks * EVAL_LAYER_STEP  # in layer steps, per layer
    overhead = 0.0
    for x in main + projections:
        kind = ("dense" if x.dense else "conv", config.norm)
        overhead += x.count * (calls + SETUP_LAYER_STEPS[kind]) * LAYER_STEP_SECONDS[kind]
    return Cost(flops, overhead * REFERENCE_GFLOPS * 1e9, _peak_bytes(config, main, projections, batch, n_train + n_test))


def _peak_bytes(config: ExperimentConfig, main: list[_Layer], projections: list[_Layer], batch: int, samples: int) -> int:
    """Data, weights (two nets, their stacked copy, gradients, optimiser state) and the larger activation peak."""
    inputs = math.prod(dataset_info(config).in_shape)
    raw = 1 if config.dataset == "cifar10" else BYTES  # the split cache keeps CIFAR-10 as uint8
    data = samples * inputs * (BYTES + raw)
    weights = 2 * sum(x.weights * x.count for x in main) + sum(x.weights * x.count for x in projections)
    copies = 5 if config.optimizer == "sgd" else 6  # plain + residual Stack, stacked, gradient, momentum (Adam: 2 moments)
    # Kept for backward per layer: the normalisation's input and the activation's output (GELU: its input too).
    saved = (2 if config.norm == "batch" else 1) + (config.activation == "gelu")
    per_sample = 2 * sum(x.outputs * x.count for x in main) + sum(x.outputs * x.count for x in projections)
    training = batch * saved * per_sample
    # An evaluation chunk keeps no graph, but a block holds ~6 maps of its largest layer at once (input, hidden, branch, skip, sum, output).
    evaluation = min(EVAL_BATCH, samples) * 6 * 2 * max(x.outputs for x in main)
    return data + BYTES * (copies * weights + max(training, evaluation))


def first_view_fits(config: ExperimentConfig, limits: HostLimits) -> bool:
    """Whether a page may measure `config` at initialisation on this host (training is priced on its own)."""
    return _fits(estimate_cost(config, train=False), limits)


def _fits(cost: Cost, limits: HostLimits) -> bool:
    return (limits.max_gflop is None or cost.gflop <= limits.max_gflop) and (
        limits.max_memory_mb is None or cost.memory_mb <= limits.max_memory_mb
    )


def _largest(low: int, high: int, fits: Callable[[int], bool]) -> int | None:
    """The largest value in [low, high] for which `fits` holds, given that it holds on a prefix (cost grows)."""
    if not fits(low):
        return None
    while low < high:
        middle = (low + high + 1) // 2
        low, high = (middle, high) if fits(middle) else (low, middle - 1)
    return low


def largest_depth(config: ExperimentConfig, limits: HostLimits) -> int | None:
    """The deepest valid depth (6n+2 for the CNN, even for the MLP) that fits with the other settings kept."""
    first, last, step = (8, MAX_CNN_DEPTH, 6) if config.arch == "cnn" else (2, MAX_MLP_DEPTH, 2)
    k = _largest(0, (last - first) // step, lambda k: _fits(estimate_cost(config.replace(depth=first + step * k)), limits))
    return None if k is None else first + step * k


def largest_steps(configs: Sequence[ExperimentConfig], limits: HostLimits) -> int | None:
    """The most training steps that fit, every config trained that long (None: not even the init view fits)."""

    def fits(steps: int) -> bool:
        costs = [estimate_cost(c.replace(steps=steps)) for c in configs]
        return _fits(
            Cost(sum(c.flops for c in costs), sum(c.overhead_flops for c in costs), max(c.peak_bytes for c in costs)), limits
        )

    return _largest(0, max(c.steps for c in configs), fits)


def largest_batch(config: ExperimentConfig, limits: HostLimits) -> int | None:
    """The largest batch size whose memory fits (None: the data and weights alone are over)."""
    if limits.max_memory_mb is None:
        return config.batch_size
    return _largest(1, config.batch_size, lambda b: estimate_cost(config.replace(batch_size=b)).memory_mb <= limits.max_memory_mb)


def _duration(seconds: float) -> str:
    """A time a visitor can picture: seconds, minutes or hours."""
    if seconds < 90:
        return f"{max(seconds, 1):.0f} s"
    if seconds < 90 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.0f} h"


def estimate_text(jobs: Sequence[Sequence[ExperimentConfig]], workers: int) -> str:
    """The cost model's time for `jobs` (each the pairs one job trains, one after the other), shown before a run.

    Jobs run `workers` at once, so the wall time is at least the longest job and at least the total
    shared out; both are the reference machine's (REFERENCE_GFLOPS), which a busy machine stretches.
    """
    seconds = [sum(estimate_cost(config).seconds for config in pairs) for pairs in jobs]
    if not seconds:
        return ""
    total, at_once = sum(seconds), min(workers, len(seconds))
    wall = max(max(seconds), total / at_once)
    if at_once == 1:
        return f"Cost model: about {_duration(total)} of one CPU core (a busy machine takes longer)."
    return (
        f"Cost model: about {_duration(wall)} with {at_once} running at once ({_duration(total)} of one CPU core; "
        "a busy machine takes longer)."
    )


def _work(gflop: float) -> str:
    return f"about {gflop:,.0f} GFLOP (roughly {_duration(gflop / REFERENCE_GFLOPS)} of one CPU core)"


def _memory_problem(config: ExperimentConfig, cost: Cost, limits: HostLimits) -> str | None:
    if limits.max_memory_mb is None or cost.memory_mb <= limits.max_memory_mb:
        return None
    batch = largest_batch(config, limits)
    advice = (
        f"the largest batch size that fits is {batch}"
        if batch
        else f"even a batch of 1 is over (the data, the weights and evaluation in chunks of {EVAL_BATCH:,}): lower the width"
    )
    return (
        f"it needs about {cost.memory_mb:,.0f} MB of memory, over this host's {limits.max_memory_mb:,} MB per training; "
        f"with these settings {advice}"
    )


def budget_message(config: ExperimentConfig, limits: HostLimits) -> str | None:
    """None when the request fits; else its work and memory, the host's caps and the largest depth, steps or batch that fit."""
    cost = estimate_cost(config)
    if _fits(cost, limits):
        return None
    problems = [p for p in [_memory_problem(config, cost, limits)] if p]
    if limits.max_gflop is not None and cost.gflop > limits.max_gflop:
        depth, steps = largest_depth(config, limits), largest_steps([config], limits)
        if depth is not None and steps:
            advice = f"the largest depth allowed is {depth} (or keep the depth and use at most {steps} steps)"
        elif depth is not None:
            advice = f"the largest depth allowed is {depth}"
        elif steps:
            advice = f"the most steps allowed are {steps}"
        else:
            advice = "lower the width or the batch size: even the shallowest net is over"
        problems.insert(
            0,
            f"this request is {_work(cost.gflop)}, over this host's budget of {limits.max_gflop:,} GFLOP "
            f"({_duration(limits.max_gflop / REFERENCE_GFLOPS)}) per request; with these settings {advice}",
        )
    return "; ".join(problems) + "."


def sweep_message(configs: Sequence[ExperimentConfig], limits: HostLimits) -> str | None:
    """None when a multi-config request fits the sweep size, the (summed) work budget and, run by run, the memory cap."""
    if limits.max_sweep is not None and len(configs) > limits.max_sweep:
        return f"this request trains {len(configs)} configurations; this host allows at most {limits.max_sweep} at once."
    costs = [estimate_cost(c) for c in configs]
    for config, cost in zip(configs, costs, strict=True):
        problem = _memory_problem(config, cost, limits)
        if problem is not None:
            return f"at depth {config.depth}, {problem}."
    total = sum(c.gflop for c in costs)
    if limits.max_gflop is None or total <= limits.max_gflop:
        return None
    steps = largest_steps(configs, limits)
    advice = f"the most steps allowed are {steps}" if steps else "choose smaller depths or widths"
    return (
        f"this request is {_work(total)}, summed over {len(configs)} configurations, over this host's budget of "
        f"{limits.max_gflop:,} GFLOP ({_duration(limits.max_gflop / REFERENCE_GFLOPS)}); with these settings {advice}."
    )
