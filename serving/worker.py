"""The worker-process side of the execution layer: a process that runs one job at a time and streams its records.

`WorkerProcess` is the server's handle on one (`python -m serving.worker`): requests go down one
pipe, records come up another. `worker_main` is the process's life. The executor (serving/jobs.py)
decides what each worker runs and when a worker is replaced.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

from serving.keys import ROOT

# Workers run below the server's CPU priority: on a host with fewer cores than sessions the server's
# event loop (health checks, every session's messages) still gets a core while jobs compute.
WORKER_NICENESS = 10

if TYPE_CHECKING:  # types for annotations only
    from serving.job import Job, JobRequest


class WorkerProcess:
    """One worker process and the job it runs.

    A plain subprocess, not multiprocessing.Process: multiprocessing re-runs the parent's __main__
    in the child, and under Streamlit __main__ is the page script, which would submit jobs itself.
    """

    def __init__(self, threads: int, modules: tuple[str, ...] = ()) -> None:
        """Start the process; it imports `modules` (the server's warm-up list, so a replacement is as warm) first."""
        up_read, up_write = os.pipe()  # records: worker -> server
        down_read, down_write = os.pipe()  # requests: server -> worker
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serving.worker", str(down_read), str(up_write), str(threads), *modules],
            pass_fds=(down_read, up_write),
            cwd=ROOT,
            env=env,
        )
        os.close(down_read)
        os.close(up_write)
        self.conn = Connection(up_read, writable=False)
        self.requests = Connection(down_write, readable=False)
        self.job: Job | None = None
        self.started = 0.0
        self.cancelled_at: float | None = None

    def send(self, message: tuple[Any, ...]) -> None:
        self.requests.send(message)

    def run(self, job: Job) -> None:
        """Hand `job` to the process (OSError when it cannot be reached)."""
        self.job, self.started, self.cancelled_at = job, time.monotonic(), None
        self.send(("run", job.request))

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()
        self.requests.close()

    def death_message(self) -> str:
        """Why the process ended, in words for the page."""
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(1)
        code = self.process.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"the engine process ended with signal {signal.Signals(-code).name} (a native crash or out of memory)"
        return f"the engine process ended unexpectedly (exit status {code})"


def worker_main(requests: Connection, conn: Connection, threads: int, modules: tuple[str, ...] = ()) -> None:
    """A worker's life: set torch's threads once, import `modules`, then run requests one at a time, streaming records back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then ends its workers
    os.nice(WORKER_NICENESS)
    import torch

    torch.set_num_threads(threads)  # the one place the lab sets it: every computation of a config runs alike
    if modules:
        warm(modules)  # the server already imported them once (Executor.warm), so they import here too
    while True:
        try:
            message = requests.recv()
        except EOFError:
            return  # the server has gone: so does its worker
        if message[0] == "warm":
            try:
                warm(message[1])
            except ImportError as error:
                conn.send(("error", str(error)))
            else:
                conn.send(("ready",))
            continue
        if message[0] != "run":
            continue  # a cancel that arrived after its job had ended
        request: JobRequest = message[1]
        try:
            for record in run_target(request):
                conn.send(("record", record))
                if requests.poll() and requests.recv()[0] == "cancel":
                    conn.send(("cancelled",))
                    break
            else:
                conn.send(("done",))
        except (ValueError, RuntimeError, OSError, MemoryError) as error:  # a setting the engine refuses: a message
            conn.send(("error", str(error)))
        except Exception as error:  # anything else is a bug, still ending only this job
            conn.send(("error", f"{type(error).__name__}: {error}"))


def warm(modules: tuple[str, ...]) -> None:
    """Import `modules`, then move everything alive into the collector's permanent generation (gc.freeze).

    What the imports made (torch, scikit-learn: ~375,000 objects) lives as long as the worker, yet every full
    collection scanned it, one or more times per lesson (benchmarks/RESULTS.md, "fifth stop").
    """
    for module in modules:
        importlib.import_module(module)
    gc.freeze()


def run_target(request: JobRequest) -> Iterator[dict[str, Any]]:
    module, _, name = request.target.partition(":")
    if not gc.get_freeze_count():  # a worker of a pool that was never warmed (CLI, tests) freezes on its first job
        warm((module,))
    function: Callable[..., Iterator[dict[str, Any]]] = getattr(importlib.import_module(module), name)
    return iter(function(request.config, *request.args))


def resident_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux /proc; 0 where unavailable, so no limit applies)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


if __name__ == "__main__":
    from serving.worker import worker_main as main  # the importable module's function, not a second copy of it

    main(
        Connection(int(sys.argv[1]), writable=False),
        Connection(int(sys.argv[2]), readable=False),
        int(sys.argv[3]),
        tuple(sys.argv[4:]),
    )
