"""Follow the teacher: the channel's rules, without a browser (tests/test_browser_class.py drives the real thing)."""

from __future__ import annotations

from ui.follow import Channel

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
