"""Every engine computation runs as a job in a pool of worker processes, never in the web server's.

A native fault, an out-of-memory or a runaway job in the server process would end every
visitor's session; in a worker it ends that job, with a message, and a fresh worker takes the
lost one's place. The interface is small, so a Ray backend or the CLI's sweep can plug in:

    job = executor().submit(JobRequest("train", config, "lab.jobs:train_run"))
    job.records      # grows as the worker streams records back
    with job.watching():  # "someone is waiting": a job nobody watches (nor touches) for IDLE_SECONDS is cancelled
        job.wait(0.1)
    executor().cancel(job)

Identical requests (same kind and config) share one job and its live progress (single flight).
Across processes (two server processes, a server and the CLI's sweep) sharing one cache directory,
a job claims its key in the result cache before a worker runs it: a job whose key another process
holds waits in the queue, then reads that process's stored result instead of computing it again.
Each worker sets torch's thread count once, at start, so every computation of a config runs at
the same thread count wherever it is requested and gives bit-identical records.
A finished job's records go to the shared result cache (serving.cache) under (kind, config).
The worker processes' side lives in serving/worker.py.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from multiprocessing.connection import wait
from typing import Any

from serving import cache
from serving.job import CANCELLED, DONE, FAILED, RUNNING, Job, JobRequest
from serving.limits import HostLimits
from serving.locks import KeyLock
from serving.worker import WorkerProcess, resident_mb

LOG = logging.getLogger("resnet_lab.jobs")  # one line per job started or abandoned: what the host's server is computing
IDLE_SECONDS = 15.0  # a job nobody has watched or touched for this long is abandoned (its tab closed): cancelled
CANCEL_GRACE_SECONDS = 5.0  # a worker that does not stop within this after a cancel is killed and replaced
POLL_SECONDS = 0.05


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
        self._workers: list[WorkerProcess] = []
        self._modules: tuple[str, ...] = ()  # what warm() imported in every worker; each replacement imports it too
        self._queue: deque[Job] = deque()
        self._live: dict[tuple[str, str], Job] = {}
        self._claims: dict[Job, KeyLock] = {}  # the result-cache keys this pool holds for the jobs it runs
        self._lock = threading.Lock()
        self._closed = False
        self._monitor = threading.Thread(target=self._watch, daemon=True, name="lab-executor")
        self._monitor.start()

    def warm(self, modules: tuple[str, ...]) -> None:
        """Start every worker now and return once each has imported torch and `modules` (the server's start-up).

        Importing torch and the engine takes a fresh process seconds (benchmarks/RESULTS.md); done here, before the
        server listens, it is off the first visitor's path (benchmarks/RESULTS.md, "first chart").
        """
        with self._lock:
            self._modules = modules
            while len(self._workers) < self.size:
                self._workers.append(WorkerProcess(self.threads))  # the warm message below imports and answers
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
            if job is None or job.finished or job.stopping:  # a stopping job's end is not what a new request asked for
                job = Job(request)
                self._live[request.identity] = job
                self._queue.append(job)
            job.touch()
            return job

    def cancel(self, job: Job) -> None:
        """Stop the job for everyone who shares it: dequeued, or its worker told to stop (killed if it does not).

        A running job ends when its worker answers: CANCELLED, or DONE and stored when the worker had already
        computed every record (a Stop that came after the end loses nothing); `job.wait` until it is finished.
        """
        with self._lock:
            self._cancel(job, "stopped")

    def shutdown(self) -> None:
        """Cancel every job and end every worker and the monitor: for a pool with an end (a CLI sweep's), not the server's."""
        with self._lock:
            self._closed = True
            for job in list(self._queue):
                self._cancel(job, "the pool was shut down")
            for worker in self._workers:
                worker.kill()
                if worker.job is not None and not worker.job.finished:
                    worker.job._update(CANCELLED, message="the pool was shut down")
            self._workers.clear()
            for job in list(self._claims):
                self._release(job)

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
                job.stopping = True
                with contextlib.suppress(OSError):
                    worker.send(("cancel",))
                job._update(message=why)  # still RUNNING: the worker's answer (or its grace running out) ends it

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

    def _receive(self, worker: WorkerProcess) -> None:
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
            self._lose(worker, worker.death_message())

    def _finish(self, worker: WorkerProcess, kind: str, payload: list[Any]) -> None:
        job, worker.job = worker.job, None
        assert job is not None
        if kind == "done":  # every record computed, a Stop asked for after the last one included: a whole result
            with contextlib.suppress(OSError):  # a read-only or full cache still serves the result
                job.stored = cache.put(job.request.kind, job.request.config, job.records)
            job._update(DONE)
        elif kind == "error":
            job._update(FAILED, message=payload[0])
        else:
            job._update(CANCELLED)
        self._release(job)

    def _enforce(self, worker: WorkerProcess) -> None:
        """Replace a dead worker; end a job over its time or memory, abandoned, or deaf to a cancel."""
        job, now = worker.job, time.monotonic()
        if not worker.alive():
            self._lose(worker, worker.death_message())
        elif job is None:
            return
        elif worker.cancelled_at is not None and now - worker.cancelled_at > CANCEL_GRACE_SECONDS:
            self._lose(worker, "stopped")
        elif job.watchers == 0 and now - job.last_touched > self.idle_seconds:
            LOG.info("job cancelled: %s, nobody watched it for %.0f s", job.request.kind, now - job.last_touched)
            self._cancel(job, "nobody was waiting for it any more")
        elif self.job_seconds is not None and now - worker.started > self.job_seconds:
            self._lose(worker, f"it ran longer than this host's limit of {self.job_seconds:.0f} s per computation")
        elif self.memory_mb is not None and (rss := resident_mb(worker.process.pid)) > self.memory_mb:
            self._lose(worker, f"it needed {rss:.0f} MB, over this host's limit of {self.memory_mb:.0f} MB per computation")

    def _lose(self, worker: WorkerProcess, why: str) -> None:
        """Kill the worker (if it still lives), fail its job with `why`; a fresh worker starts when needed."""
        worker.kill()
        self._workers.remove(worker)
        if worker.job is not None:
            self._release(worker.job)
            if worker.cancelled_at is not None:  # killed for not stopping: cancelled, for the reason it was stopped
                worker.job._update(CANCELLED)
            elif not worker.job.finished:
                worker.job._update(FAILED, message=why)

    def _dispatch(self) -> None:
        """Start queued jobs, first come first served, while a worker is free or the pool may grow.

        A job first claims its key in the result cache. A key another process holds stays
        queued (the jobs behind it may start) and is claimed on a later tick, once that process has
        finished; then the entry it stored is read instead of computed again.
        """
        for job in list(self._queue):
            idle = next((w for w in self._workers if w.job is None), None)
            if idle is None and len(self._workers) >= self.size:
                return
            if not self._claim(job):
                continue
            self._queue.remove(job)
            if (records := cache.get(job.request.kind, job.request.config)) is not None:
                self._release(job)
                for record in records:
                    job._update(record=record)
                job.stored = True
                job._update(DONE)
                continue
            if idle is None:
                idle = WorkerProcess(self.threads, self._modules)
                self._workers.append(idle)
            try:
                idle.run(job)
            except OSError:
                self._lose(idle, "the engine process could not be reached")
            else:
                job._update(RUNNING)
                LOG.info("job started: %s in worker %d", job.request.kind, idle.process.pid)

    def _claim(self, job: Job) -> bool:
        """Whether this pool now holds the job's key in the result cache (False: another process computes it)."""
        claim = cache.default_cache().claim(job.request.kind, job.request.config)
        if claim is not None:
            self._claims[job] = claim
        return claim is not None

    def _release(self, job: Job) -> None:
        """Give the job's key back once its result is stored or will not be: a waiting process may claim it."""
        claim = self._claims.pop(job, None)
        if claim is not None:
            claim.release()


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
            _executor = Executor(limits.workers, limits.threads or 1, limits.job_seconds, limits.worker_mb)
        return _executor
