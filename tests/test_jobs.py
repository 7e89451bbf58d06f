"""The execution layer: every computation in a worker process; a crash, a stop or a runaway ends only its job."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from conftest import ROOT

from resnet_core.config import ExperimentConfig
from resnet_core.training import measure_init
from serving import cache
from serving.job import CANCELLED, DONE, FAILED, RUNNING, Job, JobRequest
from serving.jobs import Executor
from serving.worker import WORKER_NICENESS
from tests import job_targets

CONFIG = ExperimentConfig(depth=8, width=4, steps=3, batch_size=16)
pytestmark = pytest.mark.usefixtures("cache_dir")  # every job stores its result: in a cache of its own test


@pytest.fixture(scope="module")
def pool() -> Iterator[Executor]:
    yield Executor(workers=2, threads=1, job_seconds=60, idle_seconds=3)


def finish(job: Job, seconds: float = 120) -> Job:
    deadline = time.monotonic() + seconds  # only a safety net for a broken pool: no assertion rests on time
    while not job.finished and time.monotonic() < deadline:
        job.wait(0.1)
    return job


def request(target: str, *args: object, kind: str = "test", config: ExperimentConfig = CONFIG) -> JobRequest:
    return JobRequest(kind, config, f"tests.job_targets:{target}", args)


def test_a_job_streams_its_records_from_another_process(pool: Executor) -> None:
    job = finish(pool.submit(request("count", 5)))
    assert job.state == DONE
    assert [r["step"] for r in job.records] == list(range(5))
    assert {r["pid"] for r in job.records} != {os.getpid()}


def test_engine_records_in_a_worker_are_bit_identical_to_one_thread_here(pool: Executor, cache_dir: object) -> None:
    """One thread count everywhere: the worker's init measurement equals this process's at one thread, float for float."""
    import torch

    job = finish(pool.submit(JobRequest("init", CONFIG, "lab.jobs:init_run")))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        here = list(measure_init(CONFIG))
    finally:
        torch.set_num_threads(before)
    assert job.state == DONE
    assert json.dumps(job.records) == json.dumps(here)  # JSON: NaN equals NaN there, and floats print exactly
    assert json.dumps(cache.get("init", CONFIG)) == json.dumps(here)  # a finished job is stored for every later visitor


def test_identical_requests_share_one_job(pool: Executor) -> None:
    first = pool.submit(request("count", 20, 0.05, kind="shared"))
    second = pool.submit(request("count", 20, 0.05, kind="shared"))
    assert first is second
    finish(first)
    again = pool.submit(request("count", 20, 0.05, kind="shared"))
    assert again is not first  # a finished job is not reused
    finish(again)  # else it would store its result into whichever test's cache is current when it ends


def _wait_for(path: Path, other: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 120  # only a safety net for a broken pool: no assertion rests on time
    while not path.exists() and other.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)


def test_two_processes_sharing_a_cache_compute_a_result_once(cache_dir: Path, tmp_path: Path) -> None:
    """Another process's pool (a second server, the CLI's sweep) asks for the result this one is computing:
    it waits for this claim on the key and reads the stored result, whichever of the two computes it."""
    folder = tmp_path / "shared"
    folder.mkdir()
    other = subprocess.Popen(
        [
            sys.executable,
            "-c",
            f"from tests.job_targets import submit_and_report; submit_and_report({str(folder)!r}, {CONFIG.to_params()!r})",
        ],
        cwd=ROOT,
    )
    here = Executor(workers=1, idle_seconds=math.inf)  # nobody touches it while the other process starts
    try:
        job = here.submit(JobRequest("shared", CONFIG, "tests.job_targets:computed_once", (str(folder),)))
        _wait_for(folder / "submitted", other)
        while not list(folder.glob("computed-*")) and not job.finished:
            job.wait(0.1)  # one of the two computes (held at "go"), the other has asked and waits for its claim
        (folder / "go").touch()
        finish(job)
        assert other.wait(120) == 0
    finally:
        here.shutdown()
    theirs = json.loads((folder / "other.json").read_text())
    assert len(list(folder.glob("computed-*"))) == 1
    assert job.state == theirs["state"] == DONE and job.stored and theirs["stored"]
    assert job.records == theirs["records"] == cache.get("shared", CONFIG)


def test_a_native_crash_ends_its_job_with_a_message_and_a_fresh_worker_takes_over(pool: Executor) -> None:
    crashed = finish(pool.submit(request("abort_after", 2, kind="crash")))
    assert crashed.state == FAILED and "SIGABRT" in crashed.message
    assert len(crashed.records) == 2  # what was computed before the crash still arrived
    after = finish(pool.submit(request("count", 3, kind="after-crash")))
    assert after.state == DONE and len(after.records) == 3


def test_a_worker_killed_mid_job_fails_only_that_job(pool: Executor) -> None:
    victim = pool.submit(request("count", 1000, 0.01, kind="victim"))
    bystander = pool.submit(request("count", 100, 0.01, kind="bystander"))
    while len(victim.records) < 3 and not victim.finished:
        victim.wait(0.1)
    os.kill(victim.records[0]["pid"], signal.SIGKILL)
    assert finish(victim).state == FAILED and "SIGKILL" in victim.message
    assert finish(bystander).state == DONE and len(bystander.records) == 100


def test_stop_cancels_for_real_and_frees_the_worker(pool: Executor) -> None:
    job = pool.submit(request("count", 10_000, 0.01, kind="stopped"))
    while not job.records:
        job.wait(0.1)
    pool.cancel(job)
    assert finish(job).state == CANCELLED and job.message == "stopped"
    assert len(job.records) < 10_000
    assert cache.get("stopped", CONFIG) is None  # a part of a run is never a result
    assert finish(pool.submit(request("count", 2, kind="next"))).state == DONE


def test_a_stop_after_the_last_record_keeps_the_whole_result(pool: Executor, tmp_path: Path) -> None:
    """Issue 14: a Stop that arrived after the worker had sent every record marked the run cancelled, and nothing was
    stored, although all of it had been computed. The run's end is held until the Stop has been sent."""
    gate = tmp_path / "gate"
    job = pool.submit(request("count_then_wait", 3, str(gate), kind="late-stop"))
    while not job_targets.waiting(gate).exists():  # past its last record: a Stop now comes after the end
        job.wait(0.1)
    pool.cancel(job)
    gate.touch()  # the worker reaches the end of the run with the Stop waiting in its pipe
    assert finish(job).state == DONE and job.stored
    assert [r["step"] for r in cache.get("late-stop", CONFIG)] == [0, 1, 2]


def test_a_request_after_a_stop_gets_a_job_of_its_own(pool: Executor) -> None:
    """Review: between a Stop and its worker's answer the stopped job was still RUNNING, so the same request made
    then (a student pressing Train just after the teacher's Stop) joined it and ended cancelled though never stopped."""
    stopped = pool.submit(request("count", 10_000, 0.01, kind="restarted"))
    while not stopped.records:
        stopped.wait(0.1)
    pool.cancel(stopped)
    again = pool.submit(request("count", 10_000, 0.01, kind="restarted"))
    assert again is not stopped
    assert finish(stopped).state == CANCELLED
    while len(again.records) < 3:  # it runs once the stopped job has let go of the key
        again.wait(0.1)
    assert again.state == RUNNING
    pool.cancel(again)


def test_a_job_nobody_waits_for_is_cancelled(pool: Executor) -> None:
    job = pool.submit(request("count", 10_000, 0.01, kind="abandoned"))
    deadline = time.monotonic() + 60
    while not job.finished and time.monotonic() < deadline:
        time.sleep(0.2)  # watching without touching, as a closed tab does
    assert job.state == CANCELLED and "nobody" in job.message


def test_a_job_its_watchers_wait_for_is_not_cancelled_however_long_they_go_without_running(pool: Executor) -> None:
    """A page thread starved of CPU (a loaded server) can go longer than idle_seconds between two touches: the job it
    waits in `watching()` for must run to the end, not be cancelled and computed again by the next run (issue 9)."""
    job = pool.submit(request("count", 500, 0.01, kind="starved"))  # over 5 s: longer than the pool's idle_seconds (3)
    deadline = time.monotonic() + 120
    with job.watching():
        while not job.finished and time.monotonic() < deadline:
            time.sleep(0.2)  # waiting without touching, as a thread that never gets the CPU does
    assert job.state == DONE and len(job.records) == 500


def test_a_refused_setting_is_a_message(pool: Executor) -> None:
    job = finish(pool.submit(request("refuse", kind="refused")))
    assert job.state == FAILED and job.message == "depth: 9 is not 6n+2"


def test_over_the_time_limit_ends_the_job() -> None:
    short = Executor(workers=1, job_seconds=1)
    job = finish(short.submit(request("count", 10_000, 0.01, kind="runaway")))
    assert job.state == FAILED and "longer than this host's limit of 1 s" in job.message


@pytest.mark.parametrize("threads", [1, 2])
def test_each_worker_runs_at_the_pools_thread_count(threads: int) -> None:
    job = finish(Executor(workers=1, threads=threads).submit(request("threads", kind=f"threads-{threads}")))
    assert job.records[0]["threads"] == threads


def test_workers_compute_below_the_servers_cpu_priority(pool: Executor) -> None:
    """The server's event loop (health checks, sessions) must get a core before a job does."""
    job = finish(pool.submit(request("count", 1, kind="priority")))
    worker_priority = os.getpriority(os.PRIO_PROCESS, job.records[0]["pid"])
    assert worker_priority == min(os.getpriority(os.PRIO_PROCESS, 0) + WORKER_NICENESS, 19) > os.getpriority(os.PRIO_PROCESS, 0)


def test_warm_starts_every_worker_with_the_engine_imported_before_any_job() -> None:
    warm = Executor(workers=2, threads=1, job_seconds=60)
    warm.warm(("lab.jobs",))
    pids = {w.process.pid for w in warm._workers}
    assert len(pids) == 2 and all(w.alive() for w in warm._workers)
    job = finish(warm.submit(request("imported", "lab.jobs", "resnet_core.training", "torch")))
    assert job.state == DONE
    assert job.records[0]["imported"] == [True, True, True]
    assert job.records[0]["pid"] in pids  # it ran in a warm worker, not one started for it
    assert job.records[0]["frozen"] > 100_000  # the imports' objects: full collections no longer scan them
    for worker in list(warm._workers):
        worker.kill()


def test_a_worker_started_after_the_warm_up_freezes_its_imports_on_its_first_job() -> None:
    """A replacement (after a Stop's kill or a crash) never gets the server's warm message: without this its full
    collections scanned every object of torch's import for the rest of its life."""
    cold = Executor(workers=1, threads=1, job_seconds=60)
    job = finish(cold.submit(request("imported", "torch", kind="cold-worker")))
    assert job.state == DONE and job.records[0]["frozen"] > 0
    for worker in list(cold._workers):
        worker.kill()


def test_a_worker_that_replaces_a_lost_one_imports_the_servers_warm_up_list() -> None:
    """After a crash or a Stop's kill, the next job's worker is as warm as the first (torch._dynamo: seconds of a
    first optimiser otherwise)."""
    pool = Executor(workers=1, threads=1, job_seconds=60)
    pool.warm(("xml.dom.minidom",))  # a module neither the worker nor the job imports by itself
    first = {w.process.pid for w in pool._workers}
    assert finish(pool.submit(request("abort_after", 1, kind="lost"))).state == FAILED
    job = finish(pool.submit(request("imported", "xml.dom.minidom", kind="replacement")))
    assert job.state == DONE and job.records[0]["pid"] not in first
    assert job.records[0]["imported"] == [True] and job.records[0]["frozen"] > 0
    for worker in list(pool._workers):
        worker.kill()


def test_a_warm_that_cannot_import_fails_loudly() -> None:
    broken = Executor(workers=1, threads=1)
    with pytest.raises(RuntimeError, match="did not start"):
        broken.warm(("no_such_module_here",))
    for worker in list(broken._workers):
        worker.kill()
