"""The pages' "Stored sweep" section (AppTest): cells a sweep stored under the page's own settings are drawn with
their mean and min–max range over seeds, as every page draws seeds; the missing cells are named, with the command that computes them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
from conftest import ROOT, chart_specs, decode
from streamlit.testing.v1 import AppTest

from lab.jobs import train_run
from resnet_core.config import ExperimentConfig
from serving import cache, sweep

TINY = {"width": "4", "steps": "6", "eval_every": "3", "batch_size": "32"}


def store(configs: list[ExperimentConfig]) -> pd.DataFrame:
    """Train the cells here, as a sweep's worker would, store them, and return their final errors from the records."""
    rows = []
    for config in configs:
        records = list(train_run(config))
        cache.put(sweep.KIND, config, records)
        rows += [{"cell": config, **r} for r in records if r["kind"] == "done"]
    return pd.DataFrame(rows)


def open_page(name: str, query: dict[str, str | list[str]]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "views" / f"{name}.py"), default_timeout=300)
    for key, value in query.items():
        at.query_params[key] = value
    return at.run()


def sweep_chart(at: AppTest) -> dict:
    return next(s for s in chart_specs(at) if s["title"].startswith("Stored sweep"))


def test_degradation_shows_the_stored_cells_spread_and_names_the_missing(cache_dir: Path) -> None:
    page = ExperimentConfig(lr=0.05, measure_every=100, **{k: int(v) for k, v in TINY.items()})
    done = store([page.replace(depth=8, seed=1), page.replace(depth=8, seed=2), page.replace(depth=20, seed=1)])
    at = open_page("degradation", TINY | {"depths": ["8", "20"]})
    assert not at.exception
    assert any(e.label == "Stored sweep: 3 of 10 cells (5 seeds per depth)" for e in at.expander)
    traces = sweep_chart(at)["data"]
    plain_train = next(t for t in traces if t.get("name") == "plain, training")
    band = next(t for t in traces if t.get("legendgroup") == "plain, training" and t.get("fill") == "toself")
    errors = done[done["variant"] == "plain"].assign(depth=lambda d: [c.depth for c in d["cell"]]).groupby("depth")["train_error"]
    assert np.allclose(decode(plain_train["y"]), errors.mean().to_numpy())
    high, low = errors.max().to_numpy(), errors.min().to_numpy()  # the pages' seed range; one seed: zero width
    assert np.allclose(decode(band["y"]), [*high, *low[::-1]])
    missing = next(m.value for m in at.markdown if m.value.startswith("Missing 7 cells"))
    assert "depth 8 seed 0" in missing and "depth 20 seed 4" in missing and "depth 8 seed 1," not in missing
    assert [t.value for t in at.text if t.value.startswith("python -m resnet_core sweep")] == [
        "python -m resnet_core sweep --depth 8,20 --width 4 --steps 6 --batch-size 32 --seed 0-4 "
        "--measure-every 100 --eval-every 3"
    ]
    assert not at.code  # st.code: every visitor would download and run a 1.56 MB code highlighter


def test_shortcuts_shows_the_options_and_says_when_nothing_is_stored(cache_dir: Path) -> None:
    at = open_page("shortcuts", TINY | {"depth": "8"})
    assert not at.exception
    assert any(e.label == "Stored sweep: 0 of 15 cells (5 seeds per shortcut)" for e in at.expander)
    assert not [s for s in chart_specs(at) if s["title"].startswith("Stored sweep")]

    page = ExperimentConfig(depth=8, measure_every=10, **{k: int(v) for k, v in TINY.items()})
    store([page.replace(shortcut="B", seed=0), page.replace(shortcut="C", seed=3)])
    at = open_page("shortcuts", TINY | {"depth": "8"})
    assert not at.exception
    residual = next(t for t in sweep_chart(at)["data"] if t.get("name") == "residual, test")
    assert list(residual["x"]) == ["B", "C"]
    assert any(m.value.startswith("Missing 13 cells: shortcut A seed 0") for m in at.markdown)
