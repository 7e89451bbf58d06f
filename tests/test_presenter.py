"""Presenter mode and the hosted guard-rails, through AppTest (the page as Streamlit runs it)."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import plotly.graph_objects as go
import pytest
import segno
from conftest import ROOT
from PIL import Image
from streamlit.testing.v1 import AppTest

from lab.lessons import lesson_by_name
from lab.pages import GRADIENT_FLOW
from lab.style import FONT_SIZE
from resnet_core.config import ExperimentConfig
from serving import jobs, settings
from serving.cost import estimate_cost, largest_depth, largest_steps
from serving.job import DONE, JobRequest
from serving.jobs import Executor
from serving.limits import HostLimits
from ui.presenter import FONT_SCALE, qr_png, reachable_url, view_url

TIMEOUT = 300
SMALL = {"arch": "mlp", "dataset": "moons", "depth": "8", "width": "8", "steps": "6", "measure_every": "3", "eval_every": "3"}


@pytest.fixture(autouse=True)
def laptop(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A private cache and no host settings leaking in from the environment of whoever runs the tests."""
    monkeypatch.setenv("RESNET_LAB_CACHE_DIR", str(tmp_path / "cache"))
    for name in (
        "PUBLIC_URL",
        "HOSTED",
        "MAX_GFLOP",
        "MAX_MEMORY_MB",
        "MAX_COMPUTE",
        "MAX_SWEEP",
        "MAX_CONCURRENT",
        "THREADS",
        "CIFAR10_PATH",
    ):
        monkeypatch.delenv(f"RESNET_LAB_{name}", raising=False)


def open_app(params: dict[str, str]) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in params.items():
        at.query_params[key] = value
    return at.run()


def chart_font_sizes(at: AppTest) -> list[int]:
    return [json.loads(chart.proto.spec)["layout"]["font"]["size"] for chart in at.get("plotly_chart")]


def test_view_url_drops_presenter_mode_and_keeps_every_setting() -> None:
    url = view_url("http://10.0.0.5:8501/degradation", {"depths": ["20", "32"], "present": ["1"], "lesson": ["degradation"]})
    assert url == "http://10.0.0.5:8501/degradation?depths=20&depths=32&lesson=degradation"  # a changed lesson: all of it
    assert view_url(None, {"present": ["1"]}) == "?"


def test_view_url_of_an_unchanged_lesson_is_its_short_link() -> None:
    lesson = lesson_by_name("degradation")
    params = {k: list(v) if isinstance(v, tuple) else [v] for k, v in lesson.page_params().items()} | {"present": ["1"]}
    assert view_url("http://10.0.0.5:8501/degradation", params) == "http://10.0.0.5:8501/degradation?lesson=degradation"


def test_qr_code_png_holds_exactly_the_symbol_of_the_url() -> None:
    """Read the PNG's pixels back at each module's centre and compare with the QR symbol of the URL."""
    url = "http://10.0.0.5:8501/gradient-flow?depth=110"
    scale, border = 8, 2
    image = Image.open(io.BytesIO(qr_png(url, scale=scale))).convert("L")
    symbol = segno.make(url, error="m")
    size = len(symbol.matrix)
    assert image.size == ((size + 2 * border) * scale,) * 2
    dark = [
        [image.getpixel(((border + c) * scale + scale // 2, (border + r) * scale + scale // 2)) < 128 for c in range(size)]
        for r in range(size)
    ]
    assert dark == [[bool(v) for v in row] for row in symbol.matrix]


def corner(at: AppTest) -> str:
    """The presenter's corner box (QR code, link, follow code) as the HTML the page sends."""
    boxes = [element.proto.body for element in at.get("html") if "lab-qr" in element.proto.body]
    assert len(boxes) <= 1
    return boxes[0] if boxes else ""


def share_links(at: AppTest) -> list[str]:
    return [b.proto.url for b in at.get("link_button")]


def test_presenter_mode_renders_qr_link_and_large_chart_text() -> None:
    at = open_app(SMALL | {"present": "1"})
    assert not at.exception, at.exception
    box = corner(at)
    key = at.query_params["follow"]
    code, secret = (key[0] if isinstance(key, list) else key).split(".")
    assert secret not in box  # students get the code, never the presenter's secret
    assert "data:image/png;base64," in box and f"Follow code {code}" in box
    assert "depth=8" in box and "present" not in box.split("data-url=")[1].split("'")[1]  # students get the view, not the mode
    assert at.toggle(key="_presenter_toggle").value is True
    sizes = chart_font_sizes(at)
    assert sizes and all(size == round(FONT_SIZE * FONT_SCALE) for size in sizes)


def test_normal_mode_has_no_qr_and_normal_chart_text() -> None:
    at = open_app(SMALL)
    assert not at.exception
    assert not corner(at)
    assert all(size == FONT_SIZE for size in chart_font_sizes(at))


def test_toggle_writes_presenter_mode_into_the_url() -> None:
    at = open_app(SMALL)
    at.toggle(key="_presenter_toggle").set_value(True).run()
    assert at.query_params.get("present") in ("1", ["1"])
    assert corner(at)
    at.toggle(key="_presenter_toggle").set_value(False).run()
    assert "present" not in at.query_params


def test_students_get_the_public_url_or_the_lan_address_never_localhost() -> None:
    view = "http://localhost:8501/degradation?depths=20&follow=K4TW"
    assert reachable_url(view, "https://lab.school.example/resnet", None, True) == (
        "https://lab.school.example/resnet/degradation?depths=20&follow=K4TW",
        "",
    )
    assert reachable_url(view, "", "10.0.0.5", True) == ("http://10.0.0.5:8501/degradation?depths=20&follow=K4TW", "")
    url, note = reachable_url(view, "", "10.0.0.5", False)  # the server listens on loopback only: say so
    assert url == view and "listens on this computer only" in note
    assert reachable_url("http://10.0.0.7:8501/?depth=8", "", "10.0.0.5", True) == ("http://10.0.0.7:8501/?depth=8", "")


def test_configured_public_url_goes_into_the_qr_code(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_PUBLIC_URL", "https://lab.school.example")
    at = open_app(SMALL | {"present": "1"})
    url = corner(at).split("data-url='")[1].split("'")[0].replace("&amp;", "&")
    assert url.startswith("https://lab.school.example") and "depth=8" in url and "follow=" in url
    png = corner(at).split("base64,")[1].split('"')[0]
    assert base64.b64decode(png) == qr_png(url)  # the code is exactly the printed link


def test_scaled_figure_leaves_the_original_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    import ui.presenter as presenter

    monkeypatch.setattr(presenter, "is_presenting", lambda: True)
    original = go.Figure(layout={"font": {"size": FONT_SIZE}})
    bigger = presenter.screen_figure(original)
    assert bigger.layout.font.size == round(FONT_SIZE * FONT_SCALE) and original.layout.font.size == FONT_SIZE
    assert bigger.layout.yaxis.tickfont.size == round(FONT_SIZE * FONT_SCALE)  # on the axis: a chart theme can't undo it


def test_over_budget_request_gets_the_message_with_largest_values(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_MAX_GFLOP", "40")
    config = ExperimentConfig.from_params(SMALL | {"depth": "100", "steps": "60"})
    limits = HostLimits(max_gflop=40)
    at = open_app(SMALL | {"depth": "100", "steps": "60"})
    assert not at.exception
    message = " ".join(e.value for e in at.error)
    assert f"about {estimate_cost(config).gflop:,.0f} GFLOP" in message and "budget of 40 GFLOP" in message
    depth, steps = largest_depth(config, limits), largest_steps([config], limits)
    assert f"largest depth allowed is {depth}" in message and f"at most {steps} steps" in message
    assert next(b for b in at.button if b.label == "Train both nets").disabled  # only the training is refused
    assert at.get("plotly_chart")  # the first view (gradients at initialisation) fits, so it is drawn


def test_hosted_training_over_budget_keeps_the_first_view_and_turns_train_off(monkeypatch: pytest.MonkeyPatch) -> None:
    """Issue 14: /?depth=1202&steps=1000 on a hosted lab blanked the page although its initial view is cheap."""
    monkeypatch.setenv("RESNET_LAB_HOSTED", "1")
    config = GRADIENT_FLOW.defaults.replace(depth=1202, steps=1000)  # what the page asks for: its defaults and the link's
    limits = HostLimits.from_settings({"RESNET_LAB_HOSTED": "1"})
    at = open_app({"depth": "1202", "steps": "1000"})
    assert not at.exception
    assert any(
        "Weight-gradient norm per layer" in json.loads(c.proto.spec)["layout"]["title"]["text"] for c in at.get("plotly_chart")
    )
    train = next(b for b in at.button if b.label == "Train both nets")
    assert train.disabled
    (message,) = [e.value for e in at.error]
    assert message.startswith("Train both nets is off") and f"budget of {limits.max_gflop:,} GFLOP" in message
    assert f"largest depth allowed is {largest_depth(config, limits)}" in message
    assert f"at most {largest_steps([config], limits)} steps" in message


def test_a_first_view_over_the_hosts_memory_is_refused_before_anything_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("RESNET_LAB_MAX_MEMORY_MB", "4")  # a depth-8 CNN of width 4 needs about 13 MB even at initialisation
    at = open_app({"depth": "8", "width": "4"})
    assert not at.exception
    assert any("This setting is too large for this hosted lab" in e.value and "memory" in e.value for e in at.error)
    assert not at.get("plotly_chart")


@pytest.mark.parametrize("hosted", ["1", ""])
def test_a_visitor_data_path_is_ignored_hosted_or_not(monkeypatch: pytest.MonkeyPatch, hosted: str) -> None:
    """A link never reads a server file: not hosted either (it used to report whether /etc/passwd is a tar archive)."""
    monkeypatch.setenv("RESNET_LAB_HOSTED", hosted)
    at = open_app({"dataset": "cifar10", "data_path": "/etc/passwd", "depth": "8", "width": "4"})
    assert not at.exception
    warnings = " ".join(w.value for w in at.warning)
    assert "**data_path** was ignored" in warnings and "set by this lab's host" in warnings and "not available" in warnings
    assert "data_path" not in at.query_params and at.query_params.get("dataset", ["digits"]) == ["digits"]
    assert at.selectbox(key="dataset").value == "digits"  # the widget and the message agree
    assert not any("/etc" in e.value for e in [*at.error, *at.warning])
    assert share_links(at) and not any("data_path" in link for link in share_links(at))  # nor does a share link carry a path


def test_the_hosts_cifar10_path_is_used_and_never_put_in_a_link(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RESNET_LAB_CIFAR10_PATH", str(tmp_path / "no-such-archive.tar.gz"))
    at = open_app({"dataset": "cifar10", "depth": "8", "width": "4"})
    assert not at.exception
    assert at.selectbox(key="dataset").value == "cifar10" and not at.warning
    assert any("no-such-archive" in e.value for e in at.error)  # the host's path was read (and is missing here)
    assert not any("data_path" in link for link in share_links(at))


def test_budget_can_come_from_secrets_toml(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Community Cloud and Spaces hosts paste limits into the secrets box (a secrets.toml) instead of the environment."""
    secrets = tmp_path / "secrets.toml"
    secrets.write_text('RESNET_LAB_MAX_GFLOP = "40"\n')
    monkeypatch.setattr(settings, "secrets_files", lambda: (secrets,))
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    for key, value in (SMALL | {"depth": "100", "steps": "60"}).items():
        at.query_params[key] = value
    at.run()
    assert not at.exception
    assert any("over this host's budget of 40 GFLOP" in e.value for e in at.error)


def test_a_training_waits_for_a_free_engine_then_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    """With the host's one worker busy for another visitor, this visitor's work queues and runs once it is free."""
    # The other visitor keeps watching: their job must not be dropped as abandoned while a busy machine starts the worker.
    pool = Executor(workers=1, idle_seconds=3600)
    monkeypatch.setattr(jobs, "_executor", pool)
    other = pool.submit(JobRequest("other-visitor", ExperimentConfig(), "tests.job_targets:count", (40, 0.05)))
    at = open_app(SMALL)
    train_button = next(b for b in at.button if b.label == "Train both nets")
    train_button.click().run(timeout=TIMEOUT)
    assert not at.exception, at.exception
    assert other.state == DONE  # first come, first served on the one worker
    assert len(at.get("plotly_chart")) >= 4  # the run completed once it had the worker
