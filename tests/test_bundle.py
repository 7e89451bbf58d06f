"""Lessons ready before class: the prewarm command fills the cache through the real pages; a bundle carries it offline."""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path

import pytest

from lab.lessons import lesson_by_name
from resnet_core.config import ExperimentConfig
from serving.bundle import MANIFEST, export_bundle, import_bundle
from serving.cache import ResultCache
from serving.settings import host_settings
from ui import prewarm

A = ExperimentConfig(depth=8)
B = ExperimentConfig(depth=14)


def test_a_bundle_carries_the_used_entries_to_another_cache(tmp_path: Path) -> None:
    here, there = ResultCache(tmp_path / "here", 10**7), ResultCache(tmp_path / "there", 10**7)
    here.put("init", A, [{"kind": "meta", "x": 1.5}])
    here.put("train", B, [{"kind": "step", "loss": float("nan")}])
    old = here.path("train", B)
    os.utime(old, (1.0, 1.0))  # last used long ago: not part of this class's lessons
    assert export_bundle(here, tmp_path / "lessons.zip", used_since=100.0) == 1
    assert import_bundle(there, tmp_path / "lessons.zip") == 1
    assert there.get("init", A) == [{"kind": "meta", "x": 1.5}]
    assert there.get("train", B) is None


def test_a_bundle_from_other_code_or_with_odd_names_is_refused(tmp_path: Path) -> None:
    cache = ResultCache(tmp_path / "cache", 10**7)
    foreign = tmp_path / "foreign.zip"
    with zipfile.ZipFile(foreign, "w") as bundle:
        bundle.writestr(MANIFEST, json.dumps({"engine": "0" * 16, "entries": []}))
    with pytest.raises(ValueError, match="another version of the lab"):
        import_bundle(cache, foreign)
    sneaky = tmp_path / "sneaky.zip"
    with zipfile.ZipFile(sneaky, "w") as bundle:
        from serving.keys import engine_fingerprint

        bundle.writestr(MANIFEST, json.dumps({"engine": engine_fingerprint(), "entries": ["../../etc/x.json"]}))
        bundle.writestr("../../etc/x.json", "{}")
    assert import_bundle(cache, sneaky) == 0
    assert not (tmp_path / "etc").exists()


def test_prewarm_opens_a_lesson_through_the_app_and_exports_its_results(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RESNET_LAB_CACHE_DIR", str(tmp_path / "cache"))
    lesson = lesson_by_name("vanishing-sigmoid")  # init only: seconds
    monkeypatch.setattr(prewarm, "LESSONS", (lesson,))
    assert prewarm.main(["--export", str(tmp_path / "lessons.zip")]) == 0
    assert "vanishing-sigmoid: ready" in capsys.readouterr().out
    fresh = ResultCache(tmp_path / "laptop", 10**7)
    assert import_bundle(fresh, tmp_path / "lessons.zip") >= 1
    page_request = lesson.config()  # the page's own request
    assert fresh.get("init", page_request) is not None  # now on the offline laptop


def test_the_server_starts_prewarming_only_when_the_host_asks(monkeypatch: pytest.MonkeyPatch) -> None:
    started: list[list[str]] = []
    monkeypatch.setattr(prewarm.subprocess, "Popen", lambda argv, **_: started.append(argv) or "child")
    monkeypatch.delenv("RESNET_LAB_PREWARM", raising=False)
    assert prewarm.start_in_background() is None and not started
    monkeypatch.setenv("RESNET_LAB_PREWARM", "1")
    host_settings.cache_clear()  # settings are read once per process: a host restarts the server after a change
    assert prewarm.start_in_background() == "child"
    assert started == [[prewarm.sys.executable, "-m", "ui.prewarm"]]
