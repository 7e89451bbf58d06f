"""A class opening one science lesson at once trains each job once: the others wait for the cached result."""

from __future__ import annotations

import threading
import time
from typing import Any

from resnet_core.config import ExperimentConfig
from serving import cache
from ui import science

CONFIG = ExperimentConfig(depth=8, width=4, steps=3)


class Bar:
    """Stands in for st.progress: records what a waiting viewer is told."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    def progress(self, value: float, text: str = "") -> None:
        self.texts.append(text)


def viewer(job: science.Job, computed: list[int], results: list[Any], bar: Bar) -> None:
    """What ui.science._run does per job: claim it or wait, compute under the lock, publish."""
    records, lock = science._claim_or_wait(job, bar, time.monotonic())
    if records is None:
        try:
            computed.append(1)
            time.sleep(1.5)  # a training long enough for the others to arrive and wait
            records = list(job.compute())
            cache.put(job.kind, job.config, records)
        finally:
            lock.release()
    results.append(records)


def test_concurrent_viewers_compute_a_job_once(cache_dir: Any, monkeypatch: Any) -> None:
    monkeypatch.setattr(science, "REFRESH_SECONDS", 0.05)
    job = science.Job("probe", CONFIG, compute=lambda: iter([{"kind": "step", "step": 0, "value": 1.0}]), tag=iter)
    computed: list[int] = []
    results: list[Any] = []
    bars = [Bar() for _ in range(5)]
    threads = [threading.Thread(target=viewer, args=(job, computed, results, bar)) for bar in bars]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert len(computed) == 1
    assert len(results) == 5 and all(r == results[0] for r in results)
    assert any("waiting for its result" in text for bar in bars for text in bar.texts)


def test_a_cached_job_is_read_without_taking_the_lock(cache_dir: Any) -> None:
    job = science.Job("probe", CONFIG, compute=lambda: iter([]), tag=iter)
    cache.put(job.kind, job.config, [{"kind": "done"}])
    records, lock = science._claim_or_wait(job, Bar(), time.monotonic())
    assert records == [{"kind": "done"}] and lock is None
    other = cache.default_cache().try_lock(job.kind, job.config)
    assert other is not None  # nobody holds it
    other.release()
