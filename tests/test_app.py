"""The app frame: app.py runs, lands on Gradient Flow, lists only pages that exist, and ships an offline, projector-ready config."""

from __future__ import annotations

import tomllib

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from lab.pages import GRADIENT_FLOW, PAGES


@pytest.mark.usefixtures("cache_dir")
def test_app_lands_on_gradient_flow_with_the_shared_sidebar() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Gradient flow: plain vs residual"]
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert "ResNet Gradient Flow Lab" in sidebar_text and "plain" in sidebar_text and "residual" in sidebar_text
    assert len(at.get("plotly_chart")) >= 2


def test_every_registered_page_exists_and_gradient_flow_is_first() -> None:
    assert PAGES[0] is GRADIENT_FLOW
    assert [p.file for p in PAGES if not (ROOT / p.file).is_file()] == []
    assert sorted(p.file for p in PAGES) == sorted(str(f.relative_to(ROOT)) for f in (ROOT / "views").glob("*.py"))


def test_config_is_headless_offline_and_readable() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["headless"] is True
    assert config["server"]["fileWatcherType"] == "none"  # watching a tree with .venv inside kept a core busy when idle
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] in ("none", "type")  # a hosted demo never shows a traceback
    theme = config["theme"]
    assert "base" not in theme  # the viewer's light or dark preference wins
    assert theme["baseFontSize"] >= 16
    fonts = " ".join(str(v) for k, v in theme.items() if "font" in k.lower())
    assert "http" not in fonts  # nothing fetched at run time


def test_both_themes_are_configured_so_the_viewers_preference_is_followed() -> None:
    """A lone custom [theme] colour pins one theme; light and dark sections keep the viewer's choice and the switch."""
    theme = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())["theme"]
    assert "primaryColor" not in theme
    assert theme["light"]["primaryColor"] != theme["dark"]["primaryColor"]
