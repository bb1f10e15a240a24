"""A run's framework against the former reading, which looked up every span's scope.

``framework_of`` skips a span whose scope is the one of the span before it (unless the
provider names the framework, as the shared GenAI helper's scope does); generated runs of
repeated, alternating and provider-named scopes give the framework and version the former
loop gave.
"""

from __future__ import annotations

from collections.abc import Iterable

from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import SpanKind
from infinium_otel.payload import environment
from infinium_otel.payload.environment import framework_of


def _former_framework_of(spans: Iterable[SpanFacts]) -> tuple[str | None, str | None]:
    """``framework_of`` before it skipped repeated scopes."""
    known: tuple[str | None, str | None] = (None, None)
    raw: tuple[str | None, str | None] = (None, None)
    for facts in spans:
        if not facts.scope_name:
            continue
        framework, recognised = environment._framework(facts.scope_name)
        version = facts.scope_version
        if framework == environment._BY_PROVIDER:
            framework, version = (facts.provider.lower() if facts.provider else None), None
        if framework in environment._AGENT_FRAMEWORKS:
            return framework, version
        if recognised and framework is not None and known[0] is None:
            known = (framework, version)
        elif not recognised and raw[0] is None:
            raw = (framework, version)
    return known if known[0] is not None else raw


_SCOPES = st.sampled_from(
    [
        None,
        "",
        "opentelemetry.util.genai",
        "opentelemetry.instrumentation.openai_v2",
        "openinference.instrumentation.langchain",
        "infinium_otel",
        "my.app",
        "other.app",
    ]
)
_SPAN = st.tuples(
    _SCOPES,
    st.sampled_from([None, "1.0", "2.0"]),
    st.sampled_from([None, "", "OpenAI", "anthropic", "LangChain", "CrewAI"]),
)


def _facts(index: int, scope: str | None, version: str | None, provider: str | None) -> SpanFacts:
    facts = SpanFacts(index + 1, None, "span", SpanKind.LLM, 0, 1, False, None, scope, version)
    facts.provider = provider
    return facts


@settings(max_examples=600, deadline=None)
@given(st.lists(_SPAN, max_size=8))
def test_the_framework_is_the_former_one(
    specs: list[tuple[str | None, str | None, str | None]],
) -> None:
    spans = [_facts(index, *spec) for index, spec in enumerate(specs)]
    assert framework_of(spans) == _former_framework_of(spans)


def test_a_provider_named_framework_is_read_on_every_span_of_its_scope() -> None:
    """The shared GenAI helper's spans name the framework by their provider: a first span
    without one does not hide the next one's."""
    spans = [
        _facts(0, "opentelemetry.util.genai", "1.0", None),
        _facts(1, "opentelemetry.util.genai", "1.0", "LangChain"),
    ]
    assert framework_of(spans) == ("langchain", None)
    spans = [
        _facts(0, "opentelemetry.util.genai", "1.0", None),
        _facts(1, "opentelemetry.util.genai", "1.0", "OpenAI"),
    ]
    assert framework_of(spans) == ("openai", None)
