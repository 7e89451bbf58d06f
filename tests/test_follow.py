"""Follow the teacher: the channel's rules and the student's poll, without a browser (tests/test_browser_class.py
drives the real thing)."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import ROOT
from streamlit.testing.v1 import AppTest

from ui.follow import Channel, channel

APP = str(ROOT / "app.py")

VIEW = (("depth", ("20",)),)


def test_a_view_gets_a_new_version_only_when_the_teacher_moves() -> None:
    channel = Channel()
    assert channel.get("K4TW") is None
    assert channel.publish("K4TW", "secret-1", "views/gradient_flow.py", VIEW)
    first = channel.get("K4TW")
    assert channel.publish("K4TW", "secret-1", "views/gradient_flow.py", VIEW)  # a rerun, same view
    assert channel.get("K4TW") == first
    assert channel.publish("K4TW", "secret-1", "views/degradation.py", VIEW)
    moved = channel.get("K4TW")
    assert moved is not None and first is not None and moved.version == first.version + 1
    assert moved.page == "views/degradation.py"


def test_only_the_presenter_who_made_a_code_can_move_its_class() -> None:
    channel = Channel()
    channel.publish("K4TW", "teacher", "views/gradient_flow.py", VIEW)
    assert not channel.publish("K4TW", "student", "views/theory.py", ())  # ?present=1&follow=K4TW from a student's phone
    view = channel.get("K4TW")
    assert view is not None and view.page == "views/gradient_flow.py"


def frames_to(at: AppTest, page: str) -> int:
    """How many of the page's frames would load `page` (ui.follow.go_to's script) in the student's tab."""
    found = 0

    def walk(node: Any) -> None:
        nonlocal found
        for child in getattr(node, "children", {}).values():
            if getattr(child, "type", "") == "iframe" and "location.assign" in child.proto.srcdoc and page in child.proto.srcdoc:
                found += 1
            walk(child)

    walk(at.main)
    return found


@pytest.mark.usefixtures("cache_dir")
def test_a_student_is_sent_to_the_teachers_view_on_every_poll_until_the_tab_gets_there() -> None:
    """Under load a poll could rerun before the frame's script ran; the move was then marked seen and lost for good."""
    channel().publish("K4TW", "secret-123", "views/theory.py", ())
    at = AppTest.from_file(APP, default_timeout=300)
    at.query_params.update({"follow": "K4TW", "arch": "mlp", "dataset": "moons", "depth": "6", "width": "4", "steps": "0"})
    at.run()
    assert frames_to(at, "theory") == 1
    at.run()  # the next poll, in a tab that has not reloaded yet
    assert frames_to(at, "theory") == 1
