"""The URL -> config boundary without a page: echoing visitor text, and cleaning a raw query before any widget exists."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from benchmarks.fuzz import HOSTILE_TEXT, MARKER, code_spans
from lab.pages import GRADIENT_FLOW
from resnet_core.config import ConfigError, ExperimentConfig, parse_value
from serving.limits import HostLimits
from ui.controls import ADVANCED_FIELDS, MISSION_FIELDS
from ui.echo import ECHO_LIMIT, describe, echo, refused
from ui.url import clean_params

LAPTOP = HostLimits()
WIDGETS = (*MISSION_FIELDS, *ADVANCED_FIELDS)
DEFAULTS = GRADIENT_FLOW.defaults  # the landing page's, as ui.url sees them there


def clean(
    query: dict[str, str | list[str]],
    lists: dict[str, list[str]] | None = None,
    limits: HostLimits = LAPTOP,
    most: dict[str, int] | None = None,
):
    raw = {k: v if isinstance(v, list) else [v] for k, v in query.items()}
    return clean_params(raw, DEFAULTS, WIDGETS, lists or {}, limits, most)


@pytest.mark.parametrize("value", HOSTILE_TEXT)
def test_echo_keeps_hostile_text_inside_one_short_code_span(value: str) -> None:
    spans, outside = code_spans(f"URL parameter depth: {echo(value)} is not a number.")
    assert outside == "URL parameter depth:  is not a number."
    assert len(spans) == 1 and len(spans[0]) <= ECHO_LIMIT + 3
    assert "\n" not in spans[0] and "\u202e" not in spans[0]


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from("`ab \n[]()!<>"), max_size=60))
def test_echo_survives_any_run_of_backticks(value: str) -> None:
    """A value made of backticks can't close the span early: whatever it holds, the message has one span and nothing leaks."""
    spans, outside = code_spans("before " + echo(value) + " after")
    if value:
        assert outside == "before  after" and len(spans) == 1
        shown = spans[0][1:-1] if spans[0].startswith(" ") and spans[0].endswith(" ") and spans[0].strip() else spans[0]
        assert shown == value.replace("\n", "\ufffd")[:ECHO_LIMIT] + ("…" if len(value) > ECHO_LIMIT else "")


def test_describe_echoes_a_config_errors_value_and_escapes_any_other_error() -> None:
    with pytest.raises(ConfigError) as error:
        parse_value("lr", "[x](https://evil.example)")
    assert describe(error.value) == "**lr**: `[x](https://evil.example)` is not a number; allowed: 1e-06 to 10"
    text = describe(ValueError("![x](https://evil.example/p.png) <script>"))
    assert "![" not in text and "\\!\\[x\\]" in text and "\\<script\\>" in text  # shown literally, not as markup
    assert refused(error.value) == "This experiment can't run: " + describe(error.value)  # every page's one wording
    assert refused(ValueError("<b>"), "measurement") == "This measurement can't run: \\<b\\>"


@pytest.mark.parametrize(
    "field, raw, problem",
    [
        ("seed", "inf", "is not finite; allowed: 0 to 2147483647"),
        ("steps", "1e999", "is not finite; allowed: 0 to 100000"),
        ("width", "-inf", "is not finite; allowed: 1 to 512"),
        ("batch_size", "9" * 400, "is not finite; allowed: 1 to 4096"),
        ("width", "9.7", "is not a whole number; allowed: 1 to 512"),
        ("depth", "![x](https://evil.example/pixel.png)", "is not a number; allowed: 2 to 1202"),
    ],
)
def test_a_bad_value_is_dropped_with_one_warning_naming_field_and_range(field: str, raw: str, problem: str) -> None:
    """The widget then shows the default, which is what the warning says: they can't disagree (?width=9.7 used to show 9)."""
    cleaned, problems = clean({"depth": "8", field: raw} if field != "depth" else {field: raw})
    assert field not in cleaned or (field == "depth" and cleaned == {})
    assert len(problems) == 1 and f"**{field}**" in problems[0] and problem in problems[0]
    assert echo(raw) in problems[0] and "Using the default" in problems[0]


def test_good_values_are_written_back_in_the_form_their_widget_holds() -> None:
    cleaned, problems = clean({"width": " 1e1 ", "depth": "8.0", "l2": "0.0002", "momentum": "0.50", "utm_source": "x"})
    assert cleaned == {"width": ["10"], "depth": ["8"], "l2": ["0.0003"], "momentum": ["0.5"], "utm_source": ["x"]}
    assert problems == ["URL parameter **l2**: `0.0002` is not on the slider; using `0.0003`."]


def test_a_combination_the_engine_refuses_drops_the_field_it_names() -> None:
    cleaned, problems = clean({"depth": "52", "width": "4"})
    assert cleaned == {"width": ["4"]} and "**depth**" in problems[0] and "6n+2" in problems[0]


def test_a_page_list_keeps_its_good_values_and_echoes_the_bad() -> None:
    cleaned, problems = clean({"depths": ["20", "57", "[x](https://evil.example)"]}, lists={"depths": ["8", "20", "56"]})
    assert cleaned == {"depths": ["20"]}
    assert problems[0] == "URL parameter **depths**: `57` is not one of 8, 20, 56; ignored."
    assert "`[x](https://evil.example)`" in problems[1]


def test_a_page_list_value_written_as_another_form_of_a_label_is_that_label() -> None:
    """?alpha=0 means the slider's 0.0 (a teacher types the short form); a number no label has is still refused."""
    cleaned, problems = clean({"alpha": ["0", "1e-2", "0.3", "nan"]}, lists={"alpha": ["0.0", "0.01", "1.0"]})
    assert cleaned == {"alpha": ["0.0", "0.01"]}
    assert len(problems) == 2 and "`0.3`" in problems[0] and "`nan`" in problems[1]


def test_a_page_list_over_its_widgets_cap_keeps_the_first_values_and_names_the_rest() -> None:
    """The multiselect would cut them silently; repeats are one value, as the widget counts them."""
    labels = ["8", "20", "32", "44", "56", "110"]
    cleaned, problems = clean({"depths": ["8", "20", "8", "32", "44", "56", "110"]}, lists={"depths": labels}, most={"depths": 4})
    assert cleaned == {"depths": ["8", "20", "32", "44"]}
    assert problems == ["URL parameter **depths**: at most 4 values; ignored `56, 110`."]
    assert clean({"depths": ["20", "20", "20", "56", "56"]}, lists={"depths": labels}, most={"depths": 2}) == (
        {"depths": ["20", "56"]},
        [],
    )
    cleaned, problems = clean({"depths": labels * 20}, lists={"depths": labels}, most={"depths": 1})
    spans, outside = code_spans(problems[0])
    assert cleaned == {"depths": ["8"]} and outside == "URL parameter **depths**: at most 1 values; ignored ." and len(spans) == 1


@pytest.mark.parametrize("limits", [LAPTOP, HostLimits(hosted=True)])
def test_a_link_never_sets_the_data_path_and_cifar10_needs_the_hosts_copy(limits: HostLimits) -> None:
    cleaned, problems = clean({"dataset": "cifar10", "data_path": "/etc/passwd"}, limits=limits)
    assert cleaned == {"dataset": ["digits"]}
    assert "**data_path** was ignored" in problems[0] and "/etc/passwd" not in " ".join(problems)
    assert "not available" in problems[1]
    cleaned, problems = clean({"dataset": "cifar10", "data_path": "/dev/stdin"}, limits=HostLimits(cifar10_path="/srv/c"))
    assert cleaned == {"dataset": ["cifar10"]} and len(problems) == 1  # the host's path works, and never enters the URL


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(st.sampled_from([*WIDGETS, "data_path", "momentum", "depths"]), st.sampled_from(HOSTILE_TEXT), max_size=6))
def test_no_hostile_value_survives_cleaning_or_escapes_its_code_span(query: dict[str, str]) -> None:
    cleaned, problems = clean(query, lists={"depths": ["8", "20"]})
    assert not any(MARKER in v for values in cleaned.values() for v in values)
    assert ExperimentConfig.from_params({k: v[-1] for k, v in cleaned.items() if k != "depths"})  # what is left runs
    for problem in problems:
        spans, outside = code_spans(problem)
        assert MARKER not in outside and all(len(span) <= ECHO_LIMIT + 3 for span in spans)


def _page_checking(keys: list[str]) -> None:
    """A script that checks the Degradation page's URL with the given own keys (AppTest runs it standalone)."""
    from resnet_core.config import ExperimentConfig
    from ui.url import check_url

    check_url(ExperimentConfig(depth=56), "degradation", ("depth",), lists={key: ["1"] for key in keys})


@pytest.mark.parametrize(("keys", "fails"), [(["depths", "seeds"], False), (["depths"], True), (["depths", "seeds", "x"], True)])
def test_a_page_checks_exactly_the_url_keys_its_registry_entry_names(keys: list[str], fails: bool) -> None:
    """Lessons and tests read a page's own keys from lab.pages; a view that checks others fails on its first run."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_function(_page_checking, args=(keys,)).run()
    assert bool(at.exception) == fails  # the page's error details are redacted (config.toml); the log names the keys
