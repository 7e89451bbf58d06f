"""The shared result cache: exact round trips, keys, byte budget, and single-flight computing across threads and processes."""

from __future__ import annotations

import math
import multiprocessing
import os
import threading
import time
from pathlib import Path

import pytest

from resnet_core.config import ExperimentConfig
from serving import cache, settings
from serving.cache import ResultCache

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
    store = ResultCache(tmp_path, 10**6)
    assert store.key("train", CONFIG) == store.key("train", ExperimentConfig(depth=8, width=4, l2=1e-4))
    assert store.key("train", CONFIG) != store.key("init", CONFIG)
    assert store.key("train", CONFIG) != store.key("train", CONFIG.replace(seed=1))
    assert store.key("train", CONFIG) != store.key("train", CONFIG.replace(l2=0.0))


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
    assert store.get_or_compute("train", CONFIG, lambda: [1, 2]) == [1, 2]


def test_environment_configures_the_default_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_CACHE_DIR", str(tmp_path / "here"))
    monkeypatch.setenv("RESNET_LAB_CACHE_MB", "0.5")
    store = cache.default_cache()
    assert store.root == tmp_path / "here" and store.max_bytes == 512 * 1024
    cache.put("init", CONFIG, {"ok": True})
    assert cache.get("init", CONFIG) == {"ok": True}
    monkeypatch.setenv("RESNET_LAB_CACHE_MB", "lots")
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
    assert cache.default_cache().max_bytes == 2 * 1024 * 1024
    assert "OTHER" not in settings.read_settings()
    secrets.write_text("not = [valid")
    with pytest.raises(ValueError, match="not valid TOML"):
        settings.read_settings()


def test_concurrent_threads_compute_once(tmp_path: Path) -> None:
    store = ResultCache(tmp_path, 10**6)
    calls, results = [], []

    def compute() -> dict[str, int]:
        calls.append(1)
        time.sleep(0.3)  # long enough that every thread arrives while the first is still computing
        return {"answer": 42}

    threads = [threading.Thread(target=lambda: results.append(store.get_or_compute("train", CONFIG, compute))) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(calls) == 1
    assert results == [{"answer": 42}] * 6


def _compute_in_process(root: str, marker_dir: str, queue: multiprocessing.Queue) -> None:
    def compute() -> list[int]:
        Path(marker_dir, f"computed-{os.getpid()}").touch()
        time.sleep(0.5)
        return [1, 2, 3]

    queue.put(ResultCache(root, 10**6).get_or_compute("train", CONFIG, compute))


def test_concurrent_processes_compute_once(tmp_path: Path) -> None:
    markers = tmp_path / "markers"
    markers.mkdir()
    context = multiprocessing.get_context("fork")
    queue = context.Queue()
    workers = [context.Process(target=_compute_in_process, args=(str(tmp_path / "cache"), str(markers), queue)) for _ in range(3)]
    for worker in workers:
        worker.start()
    results = [queue.get(timeout=60) for _ in workers]
    for worker in workers:
        worker.join(timeout=60)
    assert results == [[1, 2, 3]] * 3
    assert len(list(markers.iterdir())) == 1


def test_try_lock_never_blocks_and_says_who_holds_the_key(cache_dir: Path) -> None:
    """The live runners poll with try_lock: None while another thread holds the key, the lock once it is free."""
    from resnet_core.config import ExperimentConfig

    lab = cache.default_cache()
    config = ExperimentConfig(depth=8)
    held = lab.try_lock("train", config)
    assert held is not None
    outcome: list[object] = []
    worker = threading.Thread(target=lambda: outcome.append(lab.try_lock("train", config)))
    worker.start()
    worker.join(timeout=10)
    assert outcome == [None]
    held.release()
    again = lab.try_lock("train", config)
    assert again is not None
    again.release()
