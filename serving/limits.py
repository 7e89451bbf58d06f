"""Host-configured limits: what a shared demo lets one visitor compute, and how many at once.

A laptop on a projector runs unlimited; a hosted link is opened by a whole class at once, so
the host sets (environment variables, or the same names in `.streamlit/secrets.toml`; both read
by serving.settings, the environment winning):

=========================  =================================================================
RESNET_LAB_HOSTED          1: hosted mode; the defaults below apply and visitors can't pick files
RESNET_LAB_MAX_COMPUTE     cap on depth x width x steps x batch of one request (a sweep sums)
RESNET_LAB_MAX_SWEEP       most configs one request may train (a depth sweep, a comparison)
RESNET_LAB_MAX_CONCURRENT  trainings running at once in this process; the rest wait in line
RESNET_LAB_THREADS         torch threads per training (default: cores / concurrent trainings when
                           hosted, 1 on a laptop: these small kernels run faster on one thread)
RESNET_LAB_CIFAR10_PATH    the host's CIFAR-10 archive; in hosted mode the only one allowed
RESNET_LAB_JOB_SECONDS     wall-clock limit of one computation in its worker process (hosted: 600)
RESNET_LAB_WORKER_MB       resident memory limit of one worker process (hosted: 3072)
=========================  =================================================================

The compute measure is a proxy (it ignores that a conv layer costs more than a dense one),
chosen because a visitor can read it straight off the controls and the message can name the
largest depth or step count that fits.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch

from resnet_core.config import MAX_CNN_DEPTH, MAX_MLP_DEPTH, ExperimentConfig
from serving.settings import PREFIX, read_settings

# Hosted defaults: every lesson fits (the 1000-layer one is ~31M), a 2-core host stays responsive.
HOSTED_MAX_COMPUTE = 50_000_000
HOSTED_MAX_SWEEP = 8
HOSTED_JOB_SECONDS = 600  # the longest lesson takes ~20 s on 2 cores; ten minutes means something ran away
HOSTED_WORKER_MB = 3072  # a worker holding torch and a default run uses ~0.5 GB (benchmarks/RESULTS.md, memory)


@dataclass(frozen=True)
class HostLimits:
    """The host's limits; None means unlimited (the laptop default)."""

    hosted: bool = False
    max_compute: int | None = None
    max_sweep: int | None = None
    max_concurrent: int | None = None
    threads: int | None = None
    cifar10_path: str = ""
    job_seconds: int | None = None  # wall-clock limit of one computation in a worker
    worker_mb: int | None = None  # resident memory limit of one worker process

    @classmethod
    def from_settings(cls, settings: Mapping[str, object] | None = None, cpu_count: int | None = None) -> HostLimits:
        """Read RESNET_LAB_* from `settings` (default: serving.settings); ValueError names a malformed setting."""
        settings = read_settings() if settings is None else settings
        cores = cpu_count or os.cpu_count() or 1
        hosted = str(settings.get(PREFIX + "HOSTED", "")).strip().lower() in ("1", "true", "yes", "on")
        # One thread per training, one training per core: the lab's nets are small, and on a busy 2-core
        # machine the 1000-layer lesson took 13-19 s with one torch thread and 24 s with two.
        max_concurrent = _positive(settings, "MAX_CONCURRENT", cores if hosted else None)
        # On a quiet 2-core machine the Gradient Flow lesson took 7.0 s at 1 thread and 15.5 s at 2
        # (benchmarks/RESULTS.md): a second intra-op thread only adds synchronisation to kernels this small.
        threads_default = max(1, cores // max_concurrent) if max_concurrent else 1
        return cls(
            hosted=hosted,
            max_compute=_positive(settings, "MAX_COMPUTE", HOSTED_MAX_COMPUTE if hosted else None),
            max_sweep=_positive(settings, "MAX_SWEEP", HOSTED_MAX_SWEEP if hosted else None),
            max_concurrent=max_concurrent,
            threads=_positive(settings, "THREADS", threads_default),
            cifar10_path=str(settings.get(PREFIX + "CIFAR10_PATH", "")).strip(),
            job_seconds=_positive(settings, "JOB_SECONDS", HOSTED_JOB_SECONDS if hosted else None),
            worker_mb=_positive(settings, "WORKER_MB", HOSTED_WORKER_MB if hosted else None),
        )


def _positive(settings: Mapping[str, object], name: str, default: int | None) -> int | None:
    raw = settings.get(PREFIX + name)
    if raw is None or str(raw).strip() == "":
        return default
    try:
        value = float(str(raw).strip())  # 5e7 is a fine way to write fifty million
    except ValueError:
        value = 0.0
    if not value.is_integer() or value < 1:
        raise ValueError(f"{PREFIX}{name}: {raw!r} is not a positive whole number")
    return int(value)


def compute_cost(config: ExperimentConfig) -> int:
    """depth x width x steps x batch; an init-only measurement (steps 0) counts as one step."""
    return config.depth * config.width * max(config.steps, 1) * config.batch_size


def _valid_depths(config: ExperimentConfig) -> range:
    return range(8, MAX_CNN_DEPTH + 1, 6) if config.arch == "cnn" else range(2, MAX_MLP_DEPTH + 1, 2)


def largest_depth(config: ExperimentConfig, budget: int) -> int | None:
    """The deepest valid depth (6n+2 for the CNN, even for the MLP) that fits with the other settings kept."""
    fitting = [d for d in _valid_depths(config) if compute_cost(config.replace(depth=d)) <= budget]
    return fitting[-1] if fitting else None


def largest_steps(config: ExperimentConfig, budget: int) -> int:
    """The most training steps that fit with the other settings kept (0 when not even one does)."""
    per_step = config.depth * config.width * config.batch_size
    return budget // per_step


def budget_message(config: ExperimentConfig, limits: HostLimits) -> str | None:
    """None when the request fits; else what it costs, the budget and the largest depth or steps that fit."""
    if limits.max_compute is None or compute_cost(config) <= limits.max_compute:
        return None
    cost, budget = compute_cost(config), limits.max_compute
    depth, steps = largest_depth(config, budget), largest_steps(config, budget)
    if depth is not None and steps >= 1:
        advice = f"the largest depth allowed is {depth} (or keep the depth and use at most {steps} steps)"
    elif depth is not None:
        advice = f"the largest depth allowed is {depth}"
    elif steps >= 1:
        advice = f"the most steps allowed are {steps}"
    else:
        advice = "lower the width or the batch size: even the shallowest net is over for one step"
    return (
        f"depth x width x steps x batch = {config.depth} x {config.width} x {max(config.steps, 1)} x "
        f"{config.batch_size} = {cost:,} exceeds this host's budget of {budget:,} per request; "
        f"with these settings {advice}."
    )


def sweep_message(configs: Sequence[ExperimentConfig], limits: HostLimits) -> str | None:
    """None when a multi-config request fits both the sweep size and (summed) the compute budget."""
    if limits.max_sweep is not None and len(configs) > limits.max_sweep:
        return f"this request trains {len(configs)} configurations; this host allows at most {limits.max_sweep} at once."
    if limits.max_compute is None or not configs:
        return None
    total = sum(compute_cost(c) for c in configs)
    if total <= limits.max_compute:
        return None
    per_step = sum(c.depth * c.width * c.batch_size for c in configs)
    steps = limits.max_compute // per_step
    advice = f"the most steps allowed are {steps}" if steps >= 1 else "choose smaller depths or widths"
    return (
        f"this request costs {total:,} (depth x width x steps x batch, summed over {len(configs)} configurations), "
        f"over this host's budget of {limits.max_compute:,}; with these settings {advice}."
    )


def data_path_message(config: ExperimentConfig, limits: HostLimits) -> tuple[ExperimentConfig, str | None]:
    """In hosted mode the CIFAR-10 path comes only from the host: a visitor's path is refused, the host's filled in."""
    if not limits.hosted:
        return config, None
    if config.data_path and config.data_path != limits.cifar10_path:
        return config, "data_path: on this hosted lab the CIFAR-10 location is set by the host, not by a link or a visitor."
    if config.dataset == "cifar10" and not limits.cifar10_path:
        return config, "dataset: 'cifar10' is not available on this host (no RESNET_LAB_CIFAR10_PATH configured); use digits."
    if config.dataset == "cifar10":
        return config.replace(data_path=limits.cifar10_path), None
    return config, None


def apply_thread_limit(limits: HostLimits) -> int:
    """Size torch's intra-op pool so concurrent trainings share the cores instead of fighting over them."""
    if limits.threads is not None and torch.get_num_threads() != limits.threads:
        torch.set_num_threads(limits.threads)
    return torch.get_num_threads()
