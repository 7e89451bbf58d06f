"""The app frame: app.py runs, lands on Gradient Flow, lists only pages that exist, and ships an offline, projector-ready config."""

from __future__ import annotations

import ast
import tomllib
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent


def registered_pages() -> list[str]:
    """The file of every st.Page(...) in app.py, read from the source (running app.py needs a Streamlit session)."""
    tree = ast.parse((ROOT / "app.py").read_text())
    return [call.args[0].value for call in ast.walk(tree)
            if isinstance(call, ast.Call) and getattr(call.func, "attr", "") == "Page" and call.args]


@pytest.mark.usefixtures("cache_dir")
def test_app_lands_on_gradient_flow_with_the_shared_sidebar() -> None:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=120).run()
    assert not at.exception
    assert [t.value for t in at.title] == ["Gradient flow: plain vs residual"]
    sidebar_text = " ".join(m.value for m in at.sidebar.markdown)
    assert "ResNet Gradient Flow Lab" in sidebar_text and "plain" in sidebar_text and "residual" in sidebar_text
    assert len(at.get("plotly_chart")) >= 2


def test_every_registered_page_exists_and_gradient_flow_is_first() -> None:
    pages = registered_pages()
    assert pages[0] == "pages/gradient_flow.py"
    assert [p for p in pages if not (ROOT / p).is_file()] == []


def test_config_is_headless_offline_and_readable() -> None:
    config = tomllib.loads((ROOT / ".streamlit" / "config.toml").read_text())
    assert config["server"]["headless"] is True
    assert config["browser"]["gatherUsageStats"] is False
    assert config["client"]["showErrorDetails"] in ("none", "type")  # a hosted demo never shows a traceback
    theme = config["theme"]
    assert "base" not in theme  # the viewer's light or dark preference wins
    assert theme["baseFontSize"] >= 16
    fonts = " ".join(str(v) for k, v in theme.items() if "font" in k.lower())
    assert "http" not in fonts  # nothing fetched at run time
