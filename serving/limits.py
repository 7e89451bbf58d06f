"""Host-configured limits: what a shared demo lets one visitor compute, and how many at once.

A laptop on a projector runs unlimited; a hosted link is opened by a whole class at once, so
the host sets (environment variables, or the same names in `.streamlit/secrets.toml`; both read
by serving.settings, the environment winning):

=========================  =================================================================
RESNET_LAB_HOSTED          1: hosted mode; the defaults below apply
RESNET_LAB_MAX_COMPUTE     cap on depth x width x steps x batch of one request (a sweep sums)
RESNET_LAB_MAX_SWEEP       most configs one request may train (a depth sweep, a comparison)
RESNET_LAB_MAX_CONCURRENT  trainings running at once in this process; the rest wait in line
RESNET_LAB_THREADS         torch threads per training (default: cores / concurrent trainings when
                           hosted, 1 on a laptop: these small kernels run faster on one thread)
RESNET_LAB_CIFAR10_PATH    the host's CIFAR-10 archive: the only one the web app reads, in every mode
=========================  =================================================================

The compute measure is a proxy (it ignores that a conv layer costs more than a dense one),
chosen because a visitor can read it straight off the controls and the message can name the
largest depth or step count that fits.
"""

from __future__ import annotations

import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import torch

from resnet_core.config import MAX_CNN_DEPTH, MAX_MLP_DEPTH, ExperimentConfig
from serving.settings import PREFIX, read_settings

# Hosted defaults: every lesson fits (the 1000-layer one is ~31M), a 2-core host stays responsive.
HOSTED_MAX_COMPUTE = 50_000_000
HOSTED_MAX_SWEEP = 8


@dataclass(frozen=True)
class HostLimits:
    """The host's limits; None means unlimited (the laptop default)."""

    hosted: bool = False
    max_compute: int | None = None
    max_sweep: int | None = None
    max_concurrent: int | None = None
    threads: int | None = None
    cifar10_path: str = ""

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


def cifar10_rule(values: dict[str, Any], limits: HostLimits) -> tuple[dict[str, Any], str | None]:
    """The web app's one rule for CIFAR-10, hosted or not: the host's path (RESNET_LAB_CIFAR10_PATH), never a visitor's.

    `values` are config values from a page; any data_path among them is dropped. cifar10 gets the
    host's path, or becomes digits with the reason when the host configured none. A visitor's path
    would let a link probe the server's files (is /etc/passwd a tar archive?) or block on /dev/stdin.
    The CLI (`python -m resnet_core --data-path`) is the host's own tool and does not go through here.
    """
    values = {k: v for k, v in values.items() if k != "data_path"}
    if values.get("dataset") != "cifar10":
        return values, None
    if limits.cifar10_path:
        return values | {"data_path": limits.cifar10_path}, None
    return values | {"dataset": "digits"}, (
        "CIFAR-10 is not available on this lab: its host has not configured a copy (RESNET_LAB_CIFAR10_PATH, "
        "see docs/DEPLOY.md); showing the 8x8 digits instead."
    )


def apply_thread_limit(limits: HostLimits) -> int:
    """Size torch's intra-op pool so concurrent trainings share the cores instead of fighting over them."""
    if limits.threads is not None and torch.get_num_threads() != limits.threads:
        torch.set_num_threads(limits.threads)
    return torch.get_num_threads()


class SlotLimiter:
    """At most `capacity` trainings at once, first come first served, with a visible queue.

    Like threading.BoundedSemaphore, but a waiter holds a ticket, so the page can say how many
    are ahead of it and a Streamlit rerun (an exception raised while waiting) leaves the line.
    """

    def __init__(self, capacity: int) -> None:
        if capacity < 1:
            raise ValueError(f"capacity: {capacity} must be at least 1")
        self.capacity = capacity
        self._in_use = 0
        self._queue: deque[object] = deque()
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        return self._in_use

    @property
    def waiting(self) -> int:
        return len(self._queue)

    def try_acquire(self, ticket: object | None = None) -> bool:
        """Take a slot now if one is free and nobody is ahead of `ticket` (None: a newcomer); never blocks."""
        with self._lock:
            ahead = self._queue.index(ticket) if ticket in self._queue else len(self._queue)
            if self._in_use >= self.capacity or ahead > 0:
                return False
            if ticket in self._queue:
                self._queue.remove(ticket)
            self._in_use += 1
            return True

    def release(self) -> None:
        with self._lock:
            if self._in_use == 0:
                raise ValueError("release: no slot is held")
            self._in_use -= 1

    @contextmanager
    def slot(self, on_wait: Callable[[int], None], poll_seconds: float = 0.25) -> Iterator[None]:
        """Hold a slot for the block; while waiting call on_wait(k ahead) every poll (it may raise to give up)."""
        ticket = object()
        if not self.try_acquire():
            with self._lock:
                self._queue.append(ticket)
            try:
                while not self.try_acquire(ticket):
                    with self._lock:
                        ahead = self._queue.index(ticket)
                    on_wait(ahead)
                    time.sleep(poll_seconds)
            finally:
                with self._lock:
                    if ticket in self._queue:
                        self._queue.remove(ticket)
        try:
            yield
        finally:
            self.release()


_limiters: dict[int, SlotLimiter] = {}
_limiters_lock = threading.Lock()


def training_slots(limits: HostLimits) -> SlotLimiter | None:
    """The process-wide limiter for `limits.max_concurrent` (None when unlimited): one per capacity."""
    if limits.max_concurrent is None:
        return None
    with _limiters_lock:
        return _limiters.setdefault(limits.max_concurrent, SlotLimiter(limits.max_concurrent))
