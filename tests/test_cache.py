"""The shared result cache: exact round trips, keys, byte budget, claims on a key across threads and processes,
and the faults it must survive: stray and truncated files, read-only and full disks, processes killed mid-way.
That a claimed key is computed once by two processes' executors is tests/test_jobs.py's."""

from __future__ import annotations

import errno
import json
import math
import multiprocessing
import os
import shutil
import tempfile
import threading
import time
from pathlib import Path

import pytest

from resnet_core.config import ExperimentConfig
from serving import cache, settings
from serving.cache import ResultCache
from serving.job import JobRequest
from serving.keys import result_key
from serving.limits import HostLimits
from serving.locks import KeyLock

CONFIG = ExperimentConfig(depth=8, width=4)


def test_round_trip_keeps_nan_and_nesting(tmp_path: Path) -> None:
    store = ResultCache(tmp_path, 10**6)
    payload = [{"kind": "step", "loss": 1.5, "branch_ratio": [math.nan, 0.25], "layers": [{"name": "stem.layer.weight"}]}]
    assert store.get("train", CONFIG) is None
    store.put("train", CONFIG, payload)
    back = store.get("train", CONFIG)
    assert back[0]["loss"] == 1.5 and back[0]["layers"] == payload[0]["layers"]
    assert math.isnan(back[0]["branch_ratio"][0]) and back[0]["branch_ratio"][1] == 0.25


def test_key_separates_kind_and_every_field_but_not_equal_configs(tmp_path: Path) -> None:
    assert result_key("train", CONFIG) == result_key("train", ExperimentConfig(depth=8, width=4, l2=1e-4))
    assert result_key("train", CONFIG) != result_key("init", CONFIG)
    assert result_key("train", CONFIG) != result_key("train", CONFIG.replace(seed=1))
    assert result_key("train", CONFIG) != result_key("train", CONFIG.replace(l2=0.0))


def test_writes_leave_no_temporary_files(tmp_path: Path) -> None:
    store = ResultCache(tmp_path, 10**6)
    for seed in range(3):
        store.put("train", CONFIG.replace(seed=seed), {"seed": seed})
    assert sorted(p.name.startswith(".tmp-") for p in tmp_path.iterdir() if p.is_file()) == [False, False, False]


def test_eviction_keeps_total_under_budget_and_drops_least_recently_used(tmp_path: Path) -> None:
    entry = "x" * 10_000
    store = ResultCache(tmp_path, 35_000)  # room for three entries of ~10 kB
    configs = [CONFIG.replace(seed=s) for s in range(5)]
    for i, config in enumerate(configs):
        store.put("train", config, entry)
        time.sleep(0.02)  # distinct modification times
        if i == 2:
            assert store.get("train", configs[0]) == entry  # a read makes seed 0 the most recent
            time.sleep(0.02)
        assert store.size() <= 35_000
    kept = [s for s, config in enumerate(configs) if store.path("train", config).exists()]
    assert kept == [0, 3, 4]


def test_corrupt_entry_is_a_miss_not_an_error(tmp_path: Path) -> None:
    store = ResultCache(tmp_path, 10**6)
    store.path("train", CONFIG).write_text("{not json")
    assert store.get("train", CONFIG) is None
    assert store.put("train", CONFIG, [1, 2]) and store.get("train", CONFIG) == [1, 2]


def test_environment_configures_the_default_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_CACHE_DIR", str(tmp_path / "here"))
    monkeypatch.setenv("RESNET_LAB_CACHE_MB", "0.5")
    store = cache.default_cache()
    assert store.root == tmp_path / "here" and store.max_bytes == 512 * 1024
    cache.put("init", CONFIG, {"ok": True})
    assert cache.get("init", CONFIG) == {"ok": True}
    monkeypatch.setenv("RESNET_LAB_CACHE_MB", "lots")
    settings.host_settings.cache_clear()  # the server would need a restart to see the change
    with pytest.raises(ValueError, match="RESNET_LAB_CACHE_MB"):
        cache.default_cache()


def test_secrets_toml_configures_the_default_cache_and_the_environment_wins(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """docs/DEPLOY.md promises every RESNET_LAB_* setting works in secrets.toml; the cache once read only the environment."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text(f'RESNET_LAB_CACHE_DIR = "{tmp_path / "from-secrets"}"\nRESNET_LAB_CACHE_MB = 1\nOTHER = "x"\n')
    monkeypatch.setattr(settings, "secrets_files", lambda: (tmp_path / "absent.toml", secrets))
    monkeypatch.delenv("RESNET_LAB_CACHE_DIR", raising=False)
    monkeypatch.delenv("RESNET_LAB_CACHE_MB", raising=False)
    store = cache.default_cache()
    assert store.root == tmp_path / "from-secrets" and store.max_bytes == 1024 * 1024
    monkeypatch.setenv("RESNET_LAB_CACHE_MB", "2")
    assert cache.default_cache().max_bytes == 1024 * 1024  # read once per process: a change needs a restart ...
    settings.host_settings.cache_clear()
    assert cache.default_cache().max_bytes == 2 * 1024 * 1024  # ... after which the environment wins
    assert "OTHER" not in settings.read_settings()
    secrets.write_text("not = [valid")
    with pytest.raises(ValueError, match="not valid TOML"):
        settings.read_settings()


def test_the_host_settings_are_read_once_per_process(cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A job's identity, a cache read and the host limits are asked for on every rerun of every session."""
    reads = []
    real = settings.read_settings
    monkeypatch.setattr(settings, "read_settings", lambda: reads.append(1) or real())
    request = JobRequest("init", ExperimentConfig(), "lab.jobs:init_run")
    for _ in range(3):
        assert request.identity[0] == "init" and cache.get("init", ExperimentConfig()) is None
        assert HostLimits.from_settings().max_gflop is not None
    assert len(reads) == 1 and cache.default_cache().root == cache_dir


def test_a_claim_never_blocks_and_says_who_holds_the_key(cache_dir: Path) -> None:
    """The executor polls with claim: None while another thread holds the key, the lock once it is free."""
    lab = cache.default_cache()
    held = lab.claim("train", CONFIG)
    assert held is not None
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(lab.claim("train", CONFIG)))
    worker.start()
    worker.join(timeout=10)
    assert outcome == [None]
    assert lab.claim("init", CONFIG) is not None  # another key is free
    held.release()
    again = lab.claim("train", CONFIG)
    assert again is not None
    again.release()


def _claim_in_process(root: str, queue: multiprocessing.Queue) -> None:
    queue.put(ResultCache(root, 10**6).claim("train", CONFIG) is None)


def test_a_claim_holds_against_other_processes(tmp_path: Path) -> None:
    held = ResultCache(tmp_path, 10**6).claim("train", CONFIG)
    assert held is not None
    queue = _fork().Queue()
    refused = []
    for release in (True, False):  # refused while held here, granted once released
        child = _fork().Process(target=_claim_in_process, args=(str(tmp_path), queue))
        child.start()
        refused.append(queue.get(timeout=60))
        child.join(timeout=30)
        if release:
            held.release()
    assert refused == [True, False]


# Faults: what a classroom server meets in practice (docs/RELIABILITY.md, "Faults").


def _fork() -> multiprocessing.context.ForkContext:
    return multiprocessing.get_context("fork")


def _entry_text(kind: str, config: ExperimentConfig, payload: object) -> str:
    return json.dumps({"kind": kind, "config": config.to_params(include_defaults=True), "payload": payload})


@pytest.mark.parametrize(
    "text",
    [
        "[]",
        "{}",
        "3",
        "null",
        '"payload"',
        '{"payload": [1]}',
        _entry_text("init", CONFIG, [1]),  # another kind's entry under this name
        _entry_text("train", CONFIG.replace(seed=9), [1]),  # another config's entry under this name
        json.dumps({"kind": "train", "config": CONFIG.to_params(include_defaults=True)}),  # no payload
    ],
    ids=["list", "empty-object", "number", "null", "string", "payload-only", "wrong-kind", "wrong-config", "no-payload"],
)
def test_a_stray_json_file_is_a_miss_and_is_removed(tmp_path: Path, text: str) -> None:
    store = ResultCache(tmp_path, 10**6)
    store.path("train", CONFIG).write_text(text)
    assert store.get("train", CONFIG) is None
    assert not store.path("train", CONFIG).exists()
    store.path("train", CONFIG).write_text(text)
    assert store.get("train", CONFIG) is None
    assert store.put("train", CONFIG, [7]) and store.get("train", CONFIG) == [7]


@pytest.mark.parametrize("keep", [0.5, 0.99, 0.0])
def test_a_truncated_entry_is_recomputed_never_served(tmp_path: Path, keep: float) -> None:
    store = ResultCache(tmp_path, 10**6)
    store.put("train", CONFIG, {"history": list(range(1000))})
    data = store.path("train", CONFIG).read_bytes()
    store.path("train", CONFIG).write_bytes(data[: int(len(data) * keep)])
    assert store.get("train", CONFIG) is None
    assert store.put("train", CONFIG, {"fresh": True}) and store.get("train", CONFIG) == {"fresh": True}


def test_an_entry_larger_than_the_budget_is_not_stored_and_evicts_nothing(tmp_path: Path) -> None:
    store = ResultCache(tmp_path, 5_000)
    store.put("train", CONFIG, "small")
    big = "x" * 10_000
    assert store.put("train", CONFIG.replace(seed=1), big) is False
    assert store.get("train", CONFIG.replace(seed=1)) is None
    assert store.get("train", CONFIG) == "small"
    assert [p.name for p in store.entries()] == [store.path("train", CONFIG).name]
    assert store.warning is None  # a too-large entry is a budget decision, not a broken cache


def test_eviction_never_deletes_the_entry_just_written(tmp_path: Path) -> None:
    """Least recently used goes by modification time; an older entry touched into the future must not win over the new one."""
    store = ResultCache(tmp_path, 15_000)  # room for one entry of ~10 kB
    store.put("train", CONFIG, "a" * 10_000)
    future = time.time() + 3600
    os.utime(store.path("train", CONFIG), (future, future))  # e.g. a clock step, or a copy that kept its times
    assert store.put("train", CONFIG.replace(seed=1), "b" * 10_000) is True
    assert store.get("train", CONFIG.replace(seed=1)) == "b" * 10_000
    assert store.get("train", CONFIG) is None


def test_lock_files_do_not_accumulate(tmp_path: Path) -> None:
    store = ResultCache(tmp_path, 10**6)
    for seed in range(5):
        lock = store.claim("train", CONFIG.replace(seed=seed))
        assert lock is not None
        store.put("train", CONFIG.replace(seed=seed), [1])
        lock.release()
    assert list((tmp_path / "locks").iterdir()) == []


def _count_under_lock(root: str, counter: str, rounds: int) -> None:
    for _ in range(rounds):
        with KeyLock(Path(root) / "locks" / "train.lock"):
            value = int(Path(counter).read_text())
            time.sleep(0.002)  # widen the read-modify-write window a second holder would fall into
            Path(counter).write_text(str(value + 1))


def test_deleting_lock_files_on_release_keeps_mutual_exclusion_across_processes(tmp_path: Path) -> None:
    """Holders unlink the lock file before releasing; a waiter on the old file must not share the lock with a newcomer."""
    counter = tmp_path / "counter"
    counter.write_text("0")
    (tmp_path / "cache" / "locks").mkdir(parents=True)
    workers = [_fork().Process(target=_count_under_lock, args=(str(tmp_path / "cache"), str(counter), 25)) for _ in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0] * 4
    assert counter.read_text() == "100"
    assert list((tmp_path / "cache" / "locks").iterdir()) == []


def _hold_lock_forever(root: str, marker: str) -> None:
    held = ResultCache(root, 10**6).claim("train", CONFIG)  # kept referenced: a collected FileLock lets go
    assert held is not None
    Path(marker).touch()
    time.sleep(600)


def _wait_for(path: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert time.monotonic() < deadline, f"{path} never appeared"
        time.sleep(0.02)


def test_a_lock_held_by_a_killed_process_is_taken_over_and_cleaned_up(tmp_path: Path) -> None:
    root, marker = tmp_path / "cache", tmp_path / "computing"
    holder = _fork().Process(target=_hold_lock_forever, args=(str(root), str(marker)))
    holder.start()
    _wait_for(marker)
    store = ResultCache(root, 10**6)
    assert store.claim("train", CONFIG) is None  # held by the live computer
    holder.kill()  # SIGKILL while computing under the lock: no finally runs, the lock file stays
    holder.join(timeout=30)
    assert [p.name for p in (root / "locks").iterdir()] == [f"train-{result_key('train', CONFIG)}.lock"]
    taken = store.claim("train", CONFIG)  # the kernel dropped the dead process's flock
    assert taken is not None
    taken.release()
    assert list((root / "locks").iterdir()) == []


def _write_half_then_hang(root: str, marker: str) -> None:
    real = os.fdopen

    class HalfWriter:
        def __init__(self, handle: int, mode: str) -> None:
            self.file = real(handle, mode)

        def __enter__(self) -> HalfWriter:
            return self

        def __exit__(self, *exc: object) -> None:
            self.file.close()

        def write(self, data: bytes) -> None:
            self.file.write(data[: len(data) // 2])
            self.file.flush()
            Path(marker).touch()
            time.sleep(600)

    os.fdopen = HalfWriter  # this child only
    ResultCache(root, 10**6).put("train", CONFIG, {"history": list(range(10_000))})


def test_a_server_killed_mid_write_leaves_nothing_that_is_served_and_its_temp_file_is_swept(tmp_path: Path) -> None:
    root, marker = tmp_path / "cache", tmp_path / "writing"
    writer = _fork().Process(target=_write_half_then_hang, args=(str(root), str(marker)))
    writer.start()
    _wait_for(marker)
    writer.kill()
    writer.join(timeout=30)
    leftovers = list(root.glob(".tmp-*.json"))
    assert len(leftovers) == 1 and leftovers[0].stat().st_size > 0
    store = ResultCache(root, 10**6)
    assert store.get("train", CONFIG) is None  # the half-written file never had the entry's name
    assert store.put("train", CONFIG, {"fresh": True})
    assert leftovers[0].exists()  # too young to tell from a live writer's
    old = time.time() - cache.STALE_SECONDS - 1
    os.utime(leftovers[0], (old, old))
    store.put("init", CONFIG, [1])  # every write sweeps
    assert not leftovers[0].exists()
    assert store.get("train", CONFIG) == {"fresh": True}


def test_sweep_deletes_abandoned_lock_files_but_never_a_held_one(tmp_path: Path) -> None:
    root, marker = tmp_path / "cache", tmp_path / "computing"
    store = ResultCache(root, 10**6)
    abandoned = root / "locks" / "init-abandoned.lock"
    abandoned.touch()
    holder = _fork().Process(target=_hold_lock_forever, args=(str(root), str(marker)))
    holder.start()
    try:
        _wait_for(marker)
        held = root / "locks" / f"train-{result_key('train', CONFIG)}.lock"
        old = time.time() - cache.STALE_SECONDS - 1
        for path in (abandoned, held):
            os.utime(path, (old, old))
        store.sweep()
        assert not abandoned.exists()
        assert held.exists() and store.claim("train", CONFIG) is None
    finally:
        holder.kill()
        holder.join(timeout=30)


def test_a_full_disk_keeps_the_result_in_memory_and_leaves_no_partial_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = ResultCache(tmp_path, 10**6)
    real = os.fdopen

    def full_disk(handle: int, mode: str) -> object:
        file = real(handle, mode)
        file.write(b'{"kind": "train", "con')  # part of the entry reached the disk before it filled up
        file.flush()

        def refuse(data: bytes) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

        file.write = refuse
        return file

    monkeypatch.setattr(os, "fdopen", full_disk)
    assert store.put("train", CONFIG, [1, 2, 3]) is False
    assert list(tmp_path.glob("*.json")) == [] and list(tmp_path.glob(".tmp-*")) == []
    assert store.warning is not None and "No space left on device" in store.warning
    assert store.get("train", CONFIG) == [1, 2, 3]  # kept in memory: nobody waiting on the key computes it again
    monkeypatch.undo()
    assert store.put("train", CONFIG, [1, 2, 3]) is True
    assert store.warning is None and store.get("train", CONFIG) == [1, 2, 3]


def test_a_cache_folder_that_cannot_exist_degrades_to_memory(tmp_path: Path) -> None:
    """E.g. RESNET_LAB_CACHE_DIR under a file, or on a path the server may not create: root cannot create it either."""
    (tmp_path / "file").write_text("")
    store = ResultCache(tmp_path / "file" / "cache", 10**6)
    assert store.warning is not None and "Not a directory" in store.warning
    assert store.put("train", CONFIG, [4]) is False
    assert store.get("train", CONFIG) == [4]
    held = store.claim("train", CONFIG)
    assert held is not None  # the in-process lock still gives single flight within this server
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(store.claim("train", CONFIG)))
    worker.start()
    worker.join(timeout=10)
    assert outcome == [None]
    held.release()


def _use_read_only_cache(root: str, queue: multiprocessing.Queue) -> None:
    if os.geteuid() == 0:  # root writes anywhere: drop to nobody so the permissions apply
        os.setgid(65534)
        os.setuid(65534)
    store = ResultCache(root, 10**6)
    held = store.claim("train", CONFIG.replace(seed=2))
    queue.put(
        {
            "warning": store.warning,
            "cached": store.get("train", CONFIG),
            "put": store.put("train", CONFIG.replace(seed=1), [5]),
            "uncached": store.get("train", CONFIG.replace(seed=1)),
            "claimed": held is not None,
            "claimed twice": store.claim("train", CONFIG.replace(seed=2)) is not None,
        }
    )


def test_a_read_only_cache_serves_what_it_has_and_computes_the_rest(tmp_path: Path) -> None:
    shared = Path(tempfile.mkdtemp(prefix="resnet-lab-ro-"))  # outside pytest's root-only tmp folder, so nobody can enter
    try:
        shared.chmod(0o755)
        ResultCache(shared / "cache", 10**6).put("train", CONFIG, [3])
        ResultCache(shared / "cache", 10**6).path("train", CONFIG).chmod(0o644)  # as if the server's own user wrote it
        for folder in (shared / "cache", shared / "cache" / "locks"):
            folder.chmod(0o555)
        before = sorted(p.name for p in (shared / "cache").rglob("*"))
        queue = _fork().Queue()
        child = _fork().Process(target=_use_read_only_cache, args=(str(shared / "cache"), queue))
        child.start()
        seen = queue.get(timeout=60)
        child.join(timeout=30)
        assert child.exitcode == 0
        assert "Permission denied" in seen.pop("warning")
        assert seen == {"cached": [3], "put": False, "uncached": [5], "claimed": True, "claimed twice": False}
        assert sorted(p.name for p in (shared / "cache").rglob("*")) == before
    finally:
        for folder in (shared / "cache", shared / "cache" / "locks"):
            folder.chmod(0o755)
        shutil.rmtree(shared)


def test_results_the_disk_refused_stay_in_memory_within_the_budget(tmp_path: Path) -> None:
    (tmp_path / "file").write_text("")
    store = ResultCache(tmp_path / "file" / "cache", 25_000)  # room for two entries of ~10 kB
    configs = [CONFIG.replace(seed=s) for s in range(3)]
    for config in configs[:2]:
        assert store.put("train", config, "x" * 10_000) is False
    assert store.get("train", configs[0]) == "x" * 10_000  # a read makes seed 0 the most recent
    store.put("train", configs[2], "x" * 10_000)
    assert [store.get("train", config) is not None for config in configs] == [True, False, True]
