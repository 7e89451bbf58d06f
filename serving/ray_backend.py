"""The sweep backend on a Ray cluster: one task per cell, each dataset in the object store once, records back, no models.

`connect(address)` joins a running cluster (RAY_ADDRESS, `ray start --head`, or the head node of
`ray up`), or with no address starts one on this machine. The project's code travels with the job
as its working_dir, so a node needs only the packages of requirements-cluster.txt, and every node
runs the same engine source, whose fingerprint is part of each cell's cache key. The driver loads
each distinct dataset once (a CIFAR-10 path need exist only where the sweep is started), puts it
in the object store, and stores every finished cell in its own result cache (docs/SCALE.md).
Ray is imported here only: the app and the local backend run without it.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import ray
from ray.exceptions import RayError, RayTaskError, TaskCancelledError

from resnet_core.config import ExperimentConfig
from resnet_core.data import dataset_key, load_dataset
from serving.job import CANCELLED, DONE, FAILED, JobRequest
from serving.keys import ROOT
from serving.sweep import TARGET, Outcome, request
from serving.worker import run_target

EXCLUDES = [".git", ".venv", ".cache", "artifacts", "*.tar.gz", "cifar-10-batches-py"]  # code only travels to the nodes


def connect(address: str | None, **local: Any) -> None:
    """Join the cluster at `address`, or start one here (then `local` goes to ray.init: num_cpus, ...); once per process."""
    if ray.is_initialized():
        return
    options: dict[str, Any] = {"include_dashboard": False, **local} if address is None else {}
    ray.init(address=address, runtime_env={"working_dir": str(ROOT), "excludes": EXCLUDES}, log_to_driver=False, **options)


def train_cell(cell: JobRequest, data: tuple[np.ndarray, ...], threads: int) -> list[dict[str, Any]]:
    """One cell in a Ray worker: torch threads set for this task, the shared dataset read in place, records returned."""
    import torch

    torch.set_num_threads(threads)
    with warnings.catch_warnings():  # the object store's arrays are read-only; training only ever reads its data
        warnings.simplefilter("ignore", UserWarning)
        tensors = tuple(torch.from_numpy(array) for array in data)
    return list(run_target(replace(cell, args=(*cell.args, tensors))))


class RayBackend:
    """Cells as Ray tasks of `cpus` CPUs (and `gpus` GPUs, fractions allowed) each, torch using `threads` of them."""

    def __init__(self, cpus: float = 1, gpus: float = 0, threads: int = 1, target: str = TARGET) -> None:
        self.task = ray.remote(num_cpus=cpus, num_gpus=gpus, max_retries=0)(train_cell)
        self.threads, self.target = threads, target
        self.refs: dict[ExperimentConfig, ray.ObjectRef] = {}

    def run(self, configs: Sequence[ExperimentConfig]) -> Iterator[Outcome]:
        datasets: dict[tuple[Any, ...], ray.ObjectRef] = {}
        waiting: dict[ray.ObjectRef, ExperimentConfig] = {}
        for config in configs:
            key = dataset_key(config)
            if key not in datasets:
                datasets[key] = ray.put(tuple(tensor.numpy() for tensor in load_dataset(config)))
            ref = self.task.remote(request(config, self.target), datasets[key], self.threads)
            self.refs[config], waiting[ref] = ref, config
        while waiting:
            ready, _ = ray.wait(list(waiting), num_returns=1)
            config = waiting.pop(ready[0])
            yield self._outcome(config, ready[0])

    @staticmethod
    def _outcome(config: ExperimentConfig, ref: ray.ObjectRef) -> Outcome:
        try:
            return Outcome(config, DONE, ray.get(ref))
        except TaskCancelledError:
            return Outcome(config, CANCELLED, [], "stopped")
        except RayTaskError as error:  # the cell's own exception, as the local pool reports it
            cause = error.cause
            return Outcome(config, FAILED, [], f"{type(cause).__name__}: {cause}" if cause else str(error))
        except RayError as error:  # a lost worker or node
            return Outcome(config, FAILED, [], f"{type(error).__name__}: {error}")

    def cancel(self, config: ExperimentConfig) -> None:
        if config in self.refs:
            with contextlib.suppress(RayError):
                ray.cancel(self.refs[config], force=True)

    def close(self) -> None:
        for config in self.refs:
            self.cancel(config)
