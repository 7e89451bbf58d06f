"""Every engine computation runs as a job in a pool of worker processes, never in the web server's.

A native fault, an out-of-memory or a runaway job in the server process would end every
visitor's session; in a worker it ends that job, with a message, and a fresh worker takes the
lost one's place. The interface is small, so a Ray backend or the CLI's sweep can plug in:

    job = executor().submit(JobRequest("train", config, "lab.jobs:train_run"))
    job.records      # grows as the worker streams records back
    job.touch()      # "someone is still waiting": a job nobody touches for IDLE_SECONDS is cancelled
    executor().cancel(job)

Identical requests (same kind and config) share one job and its live progress (single flight).
Each worker sets torch's thread count once, at start, so every computation of a config runs at
the same thread count wherever it is requested and gives bit-identical records.
A finished job's records go to the shared result cache (serving.cache) under (kind, config).
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from resnet_core.config import ExperimentConfig
from serving import cache
from serving.limits import HostLimits

ROOT = Path(__file__).resolve().parent.parent
LOG = logging.getLogger("resnet_lab.jobs")  # one line per job started: what the host's server is computing
IDLE_SECONDS = 15.0  # a job nobody has touched for this long is abandoned (its tab closed): cancelled
CANCEL_GRACE_SECONDS = 5.0  # a worker that does not stop within this after a cancel is killed and replaced
POLL_SECONDS = 0.05
# Workers run below the server's CPU priority: on a host with fewer cores than sessions the server's
# event loop (health checks, every session's messages) still gets a core while jobs compute.
WORKER_NICENESS = 10
QUEUED, RUNNING, DONE, FAILED, CANCELLED = "queued", "running", "done", "failed", "cancelled"


@dataclass(frozen=True)
class JobRequest:
    """What to compute: `target` ("module:function") called in a worker as function(config, *args), yielding records."""

    kind: str  # with `config`, the identity of the result: its cache key, and what identical requests share
    config: ExperimentConfig
    target: str
    args: tuple[Any, ...] = ()
    store: bool = True  # False for what must be fresh (a timing probe): not written to the result cache

    @property
    def identity(self) -> tuple[str, str]:
        return self.kind, cache.default_cache().key(self.kind, self.config)


@dataclass(eq=False)
class Job:
    """One request's progress, shared by everyone who asked for it; records arrive from the worker as computed."""

    request: JobRequest
    records: list[dict[str, Any]] = field(default_factory=list)
    state: str = QUEUED
    message: str = ""  # why a failed job failed, in words for the page
    last_touched: float = field(default_factory=time.monotonic)
    changed: threading.Condition = field(default_factory=threading.Condition)

    @property
    def finished(self) -> bool:
        return self.state in (DONE, FAILED, CANCELLED)

    def touch(self) -> None:
        self.last_touched = time.monotonic()

    def wait(self, seconds: float) -> None:
        """Block until the job changes (a record, a new state) or `seconds` pass; touches the job."""
        self.touch()
        with self.changed:
            if not self.finished:
                self.changed.wait(seconds)

    def _update(self, state: str | None = None, record: dict[str, Any] | None = None, message: str = "") -> None:
        with self.changed:
            if record is not None:
                self.records.append(record)
            if state is not None:
                self.state, self.message = state, message or self.message
            self.changed.notify_all()


class _Worker:
    """One worker process (`python -m serving.jobs`) and the job it runs: requests go down one pipe, records come up another.

    A plain subprocess, not multiprocessing.Process: multiprocessing re-runs the parent's __main__
    in the child, and under Streamlit __main__ is the page script, which would submit jobs itself.
    """

    def __init__(self, threads: int) -> None:
        up_read, up_write = os.pipe()  # records: worker -> server
        down_read, down_write = os.pipe()  # requests: server -> worker
        env = os.environ | {"PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "serving.jobs", str(down_read), str(up_write), str(threads)],
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
        self.job, self.started, self.cancelled_at = job, time.monotonic(), None
        self.send(("run", job.request))
        job._update(RUNNING)

    def alive(self) -> bool:
        return self.process.poll() is None

    def kill(self) -> None:
        with contextlib.suppress(OSError):
            self.process.kill()
        with contextlib.suppress(subprocess.TimeoutExpired):
            self.process.wait(5)
        self.conn.close()
        self.requests.close()


class Executor:
    """A pool of `workers` processes, a first-come queue in front, and a monitor thread that enforces the limits."""

    def __init__(
        self,
        workers: int,
        threads: int = 1,
        job_seconds: float | None = None,
        memory_mb: float | None = None,
        idle_seconds: float = IDLE_SECONDS,
    ) -> None:
        self.size, self.threads = workers, threads
        self.job_seconds, self.memory_mb, self.idle_seconds = job_seconds, memory_mb, idle_seconds
        self._workers: list[_Worker] = []
        self._queue: deque[Job] = deque()
        self._live: dict[tuple[str, str], Job] = {}
        self._lock = threading.Lock()
        self._closed = False
        self._monitor = threading.Thread(target=self._watch, daemon=True, name="lab-executor")
        self._monitor.start()

    def warm(self, modules: tuple[str, ...]) -> None:
        """Start every worker now and return once each has imported torch and `modules` (the server's start-up).

        Importing torch and the engine takes a fresh process 3-10 s on 2 cores; done here, before the
        server listens, it is off the first visitor's path (benchmarks/RESULTS.md, "first chart").
        """
        with self._lock:
            while len(self._workers) < self.size:
                self._workers.append(_Worker(self.threads))
            idle = [w for w in self._workers if w.job is None]  # a busy worker is warm already
            for worker in idle:
                worker.send(("warm", modules))
            for worker in idle:
                if (reply := worker.conn.recv()) != ("ready",):
                    raise RuntimeError(f"a job worker did not start: {reply[-1]}")

    def submit(self, request: JobRequest) -> Job:
        """The live job for this request (shared), or a new one queued for the next free worker."""
        with self._lock:
            job = self._live.get(request.identity)
            if job is None or job.finished:
                job = Job(request)
                self._live[request.identity] = job
                self._queue.append(job)
            job.touch()
            return job

    def cancel(self, job: Job) -> None:
        """Stop the job for everyone who shares it: dequeued, or its worker told to stop (killed if it does not)."""
        with self._lock:
            self._cancel(job, "stopped")

    def shutdown(self) -> None:
        """Cancel every job and end every worker and the monitor: for a pool with an end (a CLI sweep's), not the server's."""
        with self._lock:
            self._closed = True
            for job in [*self._queue, *(w.job for w in self._workers if w.job is not None)]:
                self._cancel(job, "the pool was shut down")
            for worker in self._workers:
                worker.kill()
            self._workers.clear()

    def ahead_of(self, job: Job) -> int:
        """How many queued jobs are before this one (0 when it runs or is next)."""
        with self._lock:
            return self._queue.index(job) if job in self._queue else 0

    def _cancel(self, job: Job, why: str) -> None:
        if job.finished:
            return
        if job in self._queue:
            self._queue.remove(job)
            job._update(CANCELLED, message=why)
            return
        for worker in self._workers:
            if worker.job is job and worker.cancelled_at is None:
                worker.cancelled_at = time.monotonic()
                with contextlib.suppress(OSError):
                    worker.send(("cancel",))
                job._update(CANCELLED, message=why)

    def _watch(self) -> None:
        while not self._closed:
            try:
                self._watch_once()
            except Exception:  # the monitor must outlive any one bad job; the traceback goes to the server log
                logging.getLogger(__name__).exception("job monitor")
                time.sleep(POLL_SECONDS)

    def _watch_once(self) -> None:
        busy = [w for w in self._workers if w.job is not None]
        ready = wait([w.conn for w in busy], POLL_SECONDS) if busy else time.sleep(POLL_SECONDS) or []
        with self._lock:
            for worker in busy:
                if worker.conn in ready and worker in self._workers:
                    self._receive(worker)
            for worker in list(self._workers):
                self._enforce(worker)
            self._dispatch()

    def _receive(self, worker: _Worker) -> None:
        """Drain the worker's pipe; a closed pipe means the process died."""
        job = worker.job
        try:
            while job is not None and worker.conn.poll():
                kind, *payload = worker.conn.recv()
                if kind == "record" and job.state == RUNNING:
                    job._update(record=payload[0])
                elif kind in ("done", "cancelled", "error"):
                    self._finish(worker, kind, payload)
                    job = None
        except (EOFError, OSError):
            self._lose(worker, self._death_message(worker))

    def _finish(self, worker: _Worker, kind: str, payload: list[Any]) -> None:
        job, worker.job = worker.job, None
        assert job is not None
        if kind == "done" and job.state == RUNNING:
            if job.request.store:
                with contextlib.suppress(OSError):  # a read-only or full cache still serves the result
                    cache.put(job.request.kind, job.request.config, job.records)
            job._update(DONE)
        elif kind == "error":
            job._update(FAILED, message=payload[0])

    def _enforce(self, worker: _Worker) -> None:
        """Replace a dead worker; end a job over its time or memory, abandoned, or deaf to a cancel."""
        job, now = worker.job, time.monotonic()
        if not worker.alive():
            self._lose(worker, self._death_message(worker))
        elif job is None:
            return
        elif worker.cancelled_at is not None and now - worker.cancelled_at > CANCEL_GRACE_SECONDS:
            self._lose(worker, "stopped")
        elif now - job.last_touched > self.idle_seconds:
            self._cancel(job, "nobody was waiting for it any more")
        elif self.job_seconds is not None and now - worker.started > self.job_seconds:
            self._lose(worker, f"it ran longer than this host's limit of {self.job_seconds:.0f} s per computation")
        elif self.memory_mb is not None and (rss := resident_mb(worker.process.pid)) > self.memory_mb:
            self._lose(worker, f"it needed {rss:.0f} MB, over this host's limit of {self.memory_mb:.0f} MB per computation")

    def _lose(self, worker: _Worker, why: str) -> None:
        """Kill the worker (if it still lives), fail its job with `why`; a fresh worker starts when needed."""
        worker.kill()
        self._workers.remove(worker)
        if worker.job is not None and not worker.job.finished:
            worker.job._update(FAILED, message=why)

    @staticmethod
    def _death_message(worker: _Worker) -> str:
        with contextlib.suppress(subprocess.TimeoutExpired):
            worker.process.wait(1)
        code = worker.process.returncode
        if code is not None and code < 0:
            with contextlib.suppress(ValueError):
                return f"the engine process ended with signal {signal.Signals(-code).name} (a native crash or out of memory)"
        return f"the engine process ended unexpectedly (exit status {code})"

    def _dispatch(self) -> None:
        while self._queue:
            idle = next((w for w in self._workers if w.job is None), None)
            if idle is None and len(self._workers) < self.size:
                idle = _Worker(self.threads)
                self._workers.append(idle)
            if idle is None:
                return
            job = self._queue.popleft()
            try:
                idle.run(job)
            except OSError:
                self._lose(idle, "the engine process could not be reached")
            else:
                LOG.info("job started: %s in worker %d", job.request.kind, idle.process.pid)


def worker_main(requests: Connection, conn: Connection, threads: int) -> None:
    """A worker's life: set torch's threads once, then run requests one at a time, streaming records back."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C stops the server, which then ends its workers
    os.nice(WORKER_NICENESS)
    import torch

    torch.set_num_threads(threads)  # the one place the lab sets it: every computation of a config runs alike
    while True:
        try:
            message = requests.recv()
        except EOFError:
            return  # the server has gone: so does its worker
        if message[0] == "warm":
            try:
                for module in message[1]:
                    importlib.import_module(module)
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


def run_target(request: JobRequest) -> Iterator[dict[str, Any]]:
    module, _, name = request.target.partition(":")
    function: Callable[..., Iterator[dict[str, Any]]] = getattr(importlib.import_module(module), name)
    return iter(function(request.config, *request.args))


def resident_mb(pid: int) -> float:
    """A process's resident memory in MB (Linux /proc; 0 where unavailable, so no limit applies)."""
    try:
        with open(f"/proc/{pid}/statm") as f:
            return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        return 0.0


_executor: Executor | None = None
_executor_lock = threading.Lock()


def executor(limits: HostLimits | None = None) -> Executor:
    """The process-wide pool, sized by the host: one worker per concurrent training, torch threads per worker."""
    global _executor
    with _executor_lock:
        if _executor is None:
            if not LOG.handlers:
                LOG.addHandler(logging.StreamHandler())  # stderr, beside Streamlit's own log lines
                LOG.setLevel(logging.INFO)
            limits = limits or HostLimits.from_settings()
            workers = limits.max_concurrent or os.cpu_count() or 1
            _executor = Executor(workers, limits.threads or 1, limits.job_seconds, limits.worker_mb)
        return _executor


if __name__ == "__main__":
    from serving.jobs import worker_main as main  # the importable module's function, not a second copy of it

    main(Connection(int(sys.argv[1]), writable=False), Connection(int(sys.argv[2]), readable=False), int(sys.argv[3]))
