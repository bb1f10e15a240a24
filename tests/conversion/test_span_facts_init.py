"""SpanFacts is made as the generated dataclass made it: every later fact at its declared
default, any of them given by keyword, an unknown keyword refused."""

from __future__ import annotations

import dataclasses

import pytest

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import SpanKind


def _made(**facts: object) -> SpanFacts:
    return SpanFacts(7, 3, "chat", SpanKind.LLM, 10, 20, True, "boom", "scope", "1.0", **facts)


def test_every_later_fact_starts_at_its_declared_default() -> None:
    facts = _made()
    for field in dataclasses.fields(SpanFacts)[10:]:
        assert getattr(facts, field.name) == field.default, field.name
    assert (facts.span_id, facts.parent_id, facts.name, facts.kind) == (7, 3, "chat", SpanKind.LLM)
    assert (facts.start, facts.end, facts.failed, facts.status_description) == (
        10,
        20,
        True,
        "boom",
    )
    assert (facts.scope_name, facts.scope_version) == ("scope", "1.0")


def test_facts_given_by_keyword_are_set_and_compare_equal_to_facts_set_later() -> None:
    given = _made(model="gpt", transport=True, input_tokens=5)
    later = _made()
    later.model, later.transport, later.input_tokens = "gpt", True, 5
    assert given == later
    assert given.model == "gpt" and given.transport is True and given.input_tokens == 5
    named = SpanFacts(
        span_id=7,
        parent_id=3,
        name="chat",
        kind=SpanKind.LLM,
        start=10,
        end=20,
        failed=True,
        status_description="boom",
        scope_name="scope",
        scope_version="1.0",
    )
    assert named == _made()


def test_an_unknown_keyword_is_refused() -> None:
    with pytest.raises(TypeError):
        _made(bogus=1)
    with pytest.raises(TypeError):
        SpanFacts(7, 3, "chat", SpanKind.LLM, 10, 20, True, "boom", "scope")  # type: ignore[call-arg]
