"""The science pages' finished results are read and drawn once per server (ui.shared), like Gradient Flow's.

A class on one science lesson had every session build the same figures from the same cached runs, holding the
interpreter lock the event loop needs for /_stcore/health (docs/RELIABILITY.md, "Load"). These tests count builds
(every screen figure goes through presenter.screen_figure), never time them, and check that a shared view is the
one a fresh server draws, and that other settings or presenter mode never get another view's figures.
"""

from __future__ import annotations

import gc
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from conftest import ROOT, chart_specs
from streamlit.testing.v1 import AppTest

import ui.presenter
from ui import shared

SMALL = {"width": "4", "steps": "6", "batch_size": "32"}
# page, its URL (tiny settings, one seed), the buttons that train it
PAGES = {
    "degradation": ({"depths": ["8", "20"], "eval_every": "3", "seeds": "1"}, ["science_run"]),
    "identity": ({"depth": "8", "alpha": "0.0", "l2s": ["0", "0.1"], "seeds": "1"}, ["alpha_run", "l2_run"]),
    "shortcuts": ({"depth": "8", "measure_every": "3", "seeds": "1"}, ["shortcuts_run"]),
    "lesion": ({"depth": "8"}, ["lesion_run"]),
    "preactivation": ({"arch": "mlp", "dataset": "spirals", "depth": "8", "width": "8", "seeds": "1"}, ["science_run"]),
    "landscape": ({"depth": "8", "sg_depth": "8", "sg_seeds": "3"}, ["landscape_run"]),
}


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """One entry per screen figure built in this process."""
    calls: list[int] = []
    real = ui.presenter.screen_figure
    monkeypatch.setattr(ui.presenter, "screen_figure", lambda fig: calls.append(1) or real(fig))
    return calls


def open_page(page: str, query: dict[str, str | list[str]]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / f"{page}.py"), default_timeout=300)
    for key, value in (SMALL | query).items():
        at.query_params[key] = value
    return at.run()


def captions(at: AppTest) -> str:
    return " ".join(caption.value for caption in at.caption)


@pytest.mark.parametrize("page", PAGES)
def test_a_second_session_draws_the_trained_view_without_building_a_figure(page: str, built: list[int], cache_dir: Path) -> None:
    """Session one trains; session two opens the same link and builds no figure; after the shared store is emptied a
    third builds every one again and draws the same; presenter mode (another screen) builds its own."""
    query, buttons = PAGES[page]
    first = open_page(page, query)
    for button in buttons:
        first.button(key=button).click().run()
        assert not first.exception and not first.error
    built.clear()
    second = open_page(page, query)
    assert not second.exception
    assert chart_specs(second) and built == []
    assert "held by this server: drawn without computing" in captions(second)  # what a log over the cache's budget is
    shared.SHARED.clear()
    third = open_page(page, query)
    assert len(built) == len(chart_specs(third))
    assert "in the shared cache: drawn without computing" in captions(third)
    assert chart_specs(third) == chart_specs(second)
    built.clear()
    presenting = open_page(page, query | {"present": "1"})
    assert len(built) == len(chart_specs(presenting)) == len(chart_specs(second))
    assert [s["layout"]["font"] for s in chart_specs(presenting)] != [s["layout"]["font"] for s in chart_specs(second)]


def test_other_settings_never_get_a_shared_view(built: list[int], cache_dir: Path) -> None:
    """The landscape page's page-load measurement at three and at one seed: each is drawn from its own result."""
    three = open_page("landscape", {"depth": "8", "sg_depth": "8", "sg_seeds": "3"})
    one = open_page("landscape", {"depth": "8", "sg_depth": "8", "sg_seeds": "1"})
    acf = [next(s for s in chart_specs(at) if "Autocorrelation" in s["title"]) for at in (three, one)]
    assert [len(spec["data"]) for spec in acf] == [2 * (3 + 1), 2 * (1 + 1)]  # the seeds and their mean, per net
    built.clear()
    again = open_page("landscape", {"depth": "8", "sg_depth": "8", "sg_seeds": "1"})
    assert built == [] and chart_specs(again) == chart_specs(one)


def test_what_is_derived_from_several_shared_sources_is_built_once_and_from_any_unshared_part_every_time() -> None:
    class Log:
        """Stands for a RunLog: any object that can be weakly referenced."""

    builds: list[str] = []
    first, second = shared.finished(("test", "first"), Log), shared.finished(("test", "second"), Log)
    for _ in range(3):
        shared.derived((first, second), "table", lambda: builds.append("both"))
        shared.derived((first, Log()), "table", lambda: builds.append("one unshared"))
        shared.derived((), "table", lambda: builds.append("none"))
    assert builds == ["both", "one unshared", "none", "one unshared", "none", "one unshared", "none"]
    shared.derived((second, first), "table", lambda: builds.append("other order"))  # another figure: the order is its own
    assert builds[-1] == "other order"


def test_a_frozen_dataclass_of_frames_is_a_shared_source_while_it_lives() -> None:
    """It cannot be hashed (its fields are DataFrames), so the store knows a shared object by its id; a weak-keyed
    map refused it and the figures drawn from it were built by every session."""

    @dataclass(frozen=True)
    class Check:
        table: pd.DataFrame

    builds: list[int] = []
    check = shared.finished(("test", "check"), lambda: Check(pd.DataFrame({"block": [1, 2]})))
    for _ in range(3):
        shared.derived(check, "figure", lambda: builds.append(1))
    assert builds == [1]
    known = id(check)
    del check
    shared.SHARED.clear()
    gc.collect()
    assert known not in shared._IDENTITIES  # forgotten with the object: a new object with its id is not taken for it
