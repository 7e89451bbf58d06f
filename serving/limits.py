"""Host-configured limits: what one visitor may compute, and how many trainings run at once.

A hosted link is opened by a whole class at once; a classroom laptop serves its LAN. The host sets
(environment variables, or the same names in `.streamlit/secrets.toml`; both read by
serving.settings, the environment winning):

=========================  =================================================================
RESNET_LAB_HOSTED          1: hosted mode; the hosted defaults below apply
RESNET_LAB_MAX_GFLOP       cap on the work of one request, in GFLOP (a sweep sums its runs); "off": none
RESNET_LAB_MAX_MEMORY_MB   cap on the estimated peak memory of one training, in MB; "off": none
RESNET_LAB_MAX_COMPUTE     deprecated (the old depth x width x steps x batch cap): read as
                           MAX_GFLOP = value x HOSTED_MAX_GFLOP / 50,000,000, its old hosted default,
                           so a host's "ten times below the default" keeps meaning that; MAX_GFLOP wins
RESNET_LAB_MAX_SWEEP       most configs one request may train (a depth sweep, a comparison)
RESNET_LAB_MAX_CONCURRENT  trainings running at once in this process; the rest wait in line
RESNET_LAB_THREADS         torch threads per training (default: cores / concurrent trainings when
                           hosted, 1 on a laptop: these small kernels run faster on one thread)
RESNET_LAB_CIFAR10_PATH    the host's CIFAR-10 archive: the only one the web app reads, in every mode
RESNET_LAB_JOB_SECONDS     wall-clock limit of one computation in its worker process (hosted: 600)
RESNET_LAB_WORKER_MB       resident memory limit of one worker process (hosted: 3072)
=========================  =================================================================

What a request costs, and the messages refusing one over these caps, are serving.cost's.

Not hosted (a classroom laptop on the LAN) the budget is generous, not absent: half an hour of one
core and 4 GB stop a student's link with depth 1202, width 512 and 100,000 steps from taking the
teacher's machine for a day, while anything a lesson or a sensible experiment asks for fits. A host who
wants no cap sets RESNET_LAB_MAX_GFLOP=off and RESNET_LAB_MAX_MEMORY_MB=off.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from serving.settings import PREFIX, host_settings

# Hosted: under a minute of one core per request, so a 2-core host shared by a class stays responsive; every
# lesson and science page default fits (the largest, the 1000-layer lesson, ~1,400 GFLOP) and a width-128,
# batch-4096 init view or an evaluation every step does not. A host offering CIFAR-10 raises both: one
# evaluation of a CIFAR pair at depth 20 is ~10,000 GFLOP, and its data alone ~920 MB.
HOSTED_MAX_GFLOP = 3_000
HOSTED_MAX_MEMORY_MB = 1_024
HOSTED_MAX_SWEEP = 8
HOSTED_JOB_SECONDS = 600  # tens of times the longest lesson on 2 cores (benchmarks/RESULTS.md): something ran away
HOSTED_WORKER_MB = 3072  # a worker holding torch and a default run uses ~0.5 GB (benchmarks/RESULTS.md, memory)
LAPTOP_MAX_GFLOP = 120_000  # about half an hour of one core
LAPTOP_MAX_MEMORY_MB = 4_096
LEGACY_HOSTED_MAX_COMPUTE = 50_000_000  # RESNET_LAB_MAX_COMPUTE's old hosted default, the unit of its conversion
OFF = ("off", "none", "unlimited")


@dataclass(frozen=True)
class HostLimits:
    """The host's limits; None means unlimited (from_settings gives the hosted or laptop defaults)."""

    hosted: bool = False
    max_gflop: int | None = None
    max_memory_mb: int | None = None
    max_sweep: int | None = None
    max_concurrent: int | None = None
    threads: int | None = None
    cifar10_path: str = ""
    job_seconds: int | None = None  # wall-clock limit of one computation in a worker
    worker_mb: int | None = None  # resident memory limit of one worker process

    @property
    def workers(self) -> int:
        """Computations run at once: one worker process per concurrent training (unset: one per core)."""
        return self.max_concurrent or os.cpu_count() or 1

    @classmethod
    def from_settings(cls, settings: Mapping[str, object] | None = None, cpu_count: int | None = None) -> HostLimits:
        """Read RESNET_LAB_* from `settings` (default: serving.settings); ValueError names a malformed setting."""
        settings = host_settings() if settings is None else settings
        cores = cpu_count or os.cpu_count() or 1
        hosted = str(settings.get(PREFIX + "HOSTED", "")).strip().lower() in ("1", "true", "yes", "on")
        # One thread per training, one training per core: the lab's nets are small.
        max_concurrent = _positive(settings, "MAX_CONCURRENT", cores if hosted else None)
        # A second intra-op thread only adds synchronisation to kernels this small: lessons run slower at two
        # threads than at one (benchmarks/RESULTS.md, "one torch thread per training").
        threads_default = max(1, cores // max_concurrent) if max_concurrent else 1
        gflop_default = HOSTED_MAX_GFLOP if hosted else LAPTOP_MAX_GFLOP
        legacy = _positive(settings, "MAX_COMPUTE", None)
        if legacy is not None:
            gflop_default = max(1, round(legacy * HOSTED_MAX_GFLOP / LEGACY_HOSTED_MAX_COMPUTE))
            warnings.warn(
                f"{PREFIX}MAX_COMPUTE is deprecated: read as {PREFIX}MAX_GFLOP={gflop_default} "
                f"(value x {HOSTED_MAX_GFLOP} / {LEGACY_HOSTED_MAX_COMPUTE:,}); set {PREFIX}MAX_GFLOP instead",
                FutureWarning,
                stacklevel=2,
            )
        return cls(
            hosted=hosted,
            max_gflop=_budget(settings, "MAX_GFLOP", gflop_default),
            max_memory_mb=_budget(settings, "MAX_MEMORY_MB", HOSTED_MAX_MEMORY_MB if hosted else LAPTOP_MAX_MEMORY_MB),
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


def _budget(settings: Mapping[str, object], name: str, default: int | None) -> int | None:
    """A cap that a host may switch off by name ("off"), since a missing setting means the default."""
    if str(settings.get(PREFIX + name, "")).strip().lower() in OFF:
        return None
    try:
        return _positive(settings, name, default)
    except ValueError:
        raise ValueError(f"{PREFIX}{name}: {settings[PREFIX + name]!r} is not a positive whole number or 'off'") from None


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
        "CIFAR-10 is not available on this lab, so the 8x8 digits are shown instead. To offer it, the host "
        "downloads cifar-10-python.tar.gz (163 MB, www.cs.toronto.edu/~kriz/cifar.html) once, sets "
        "RESNET_LAB_CIFAR10_PATH to that file or its unpacked folder and restarts the lab (docs/DEPLOY.md); "
        "its training is slow on a laptop CPU."
    )


def apply_thread_limit(limits: HostLimits) -> int:
    """Size torch's intra-op pool so concurrent trainings share the cores instead of fighting over them.

    Called where the engine runs (a job worker, the CLI), never by the web server: torch loads here.
    """
    import torch

    if limits.threads is not None and torch.get_num_threads() != limits.threads:
        torch.set_num_threads(limits.threads)
    return torch.get_num_threads()
