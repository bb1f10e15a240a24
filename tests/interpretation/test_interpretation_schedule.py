"""The pure parts: when to poll next, and how an outcome reads as text."""

from __future__ import annotations

import json
import random

import pytest

from infinium_otel._text import cap
from infinium_otel.interpretation import InterpretationOutcome
from infinium_otel.interpretation.render import (
    result_text,
    summary_line,
    summary_text,
    to_any_value,
)
from infinium_otel.interpretation.schedule import MIN_POLL_GAP, Plan, backoff_delay, plan_next


def test_polls_after_the_delay_while_before_the_deadline() -> None:
    assert plan_next(now=10.0, deadline=20.0, delay=3.0) == Plan(13.0, poll=True)


def test_last_poll_lands_on_the_deadline_when_far_enough_away() -> None:
    assert plan_next(now=18.0, deadline=20.0, delay=3.0) == Plan(20.0, poll=True)


def test_expires_instead_of_polling_closer_than_the_minimum_gap() -> None:
    now = 20.0 - MIN_POLL_GAP / 2
    assert plan_next(now=now, deadline=20.0, delay=3.0) == Plan(20.0, poll=False)


def test_a_hard_delay_past_the_deadline_expires_at_the_deadline() -> None:
    # A Retry-After beyond the give-up time is honoured: no poll at the deadline.
    assert plan_next(now=10.0, deadline=20.0, delay=30.0, hard=True) == Plan(20.0, poll=False)


def test_a_passed_deadline_expires_now() -> None:
    assert plan_next(now=25.0, deadline=20.0, delay=1.0) == Plan(25.0, poll=False)


def test_backoff_doubles_is_capped_and_never_under_the_interval() -> None:
    rng = random.Random(7)
    delays = [backoff_delay(n, 1.0, cap=8.0, rng=rng) for n in range(1, 8)]
    assert 1.5 <= delays[0] <= 2.5
    assert 3.0 <= delays[1] <= 5.0
    assert all(d <= 8.0 * 1.25 for d in delays)
    assert all(d >= 1.0 for d in delays)
    assert max(delays[4:]) >= 6.0  # reached the cap region


def _outcome(**changes: object) -> InterpretationOutcome:
    fields: dict[str, object] = {
        "status": "ready",
        "infinium_trace_id": "0b1c2d3e-0000-4000-8000-000000000001",
        "otel_trace_id": 0xABC,
        "otel_span_id": 0xDEF,
        "agent_name": "support-bot",
        "service_name": None,
        "result": "The agent answered well.",
        "message": "ready",
        "attempts": 2,
        "elapsed": 2.5,
    }
    fields.update(changes)
    return InterpretationOutcome(**fields)  # type: ignore[arg-type]


def test_hex_ids_are_zero_padded() -> None:
    outcome = _outcome()
    assert outcome.trace_id_hex == "0" * 29 + "abc"
    assert outcome.span_id_hex == "0" * 13 + "def"


def test_summary_prefers_a_summary_field_over_json() -> None:
    assert summary_text({"summary": "Good run", "score": 3}) == "Good run"
    assert json.loads(summary_text({"score": 3})) == {"score": 3}


def test_summary_line_names_the_agent_and_both_trace_ids() -> None:
    line = summary_line(_outcome())
    assert "'support-bot'" in line
    assert "0b1c2d3e-0000-4000-8000-000000000001" in line
    assert _outcome().trace_id_hex in line
    assert line.endswith("The agent answered well.")


def test_summary_line_is_capped_and_on_one_line() -> None:
    line = summary_line(_outcome(result="word\n" * 1000), limit=100)
    assert "\n" not in line
    assert line.endswith("...")
    assert len(line.split("): ", 1)[1]) == 100


def test_timed_out_and_failed_lines_carry_the_message() -> None:
    timed_out = summary_line(_outcome(status="timed_out", result=None, message="still grading"))
    failed = summary_line(_outcome(status="failed", result=None, message="refused"))
    assert "not ready after 2.5 s: still grading" in timed_out
    assert "failed: refused" in failed


def test_result_text_is_compact_json_for_structures() -> None:
    assert result_text({"a": [1, 2]}) == '{"a":[1,2]}'
    assert result_text("plain") == "plain"
    assert result_text(None) == ""


def test_cap() -> None:
    assert cap("abcdef", 10) == "abcdef"
    assert cap("abcdefghijkl", 6) == "abc..."


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"a": (1, 2), 3: None}, {"a": [1, 2], "3": None}),
        ({"x": float("nan")}, {"x": "nan"}),
        ([{"k": object}], [{"k": str(object)}]),
        ("text", "text"),
    ],
)
def test_to_any_value_keeps_json_types_and_stringifies_the_rest(
    value: object, expected: object
) -> None:
    assert to_any_value(value) == expected
