"""What each run pays once, whatever its size, shows what the general path showed.

The run-level parts take the common case at once: the custom tags copied as they are when
every value is a plain ``str``, the usage totals set as they are when they are ints, the one
model and provider taken from their sets, the counted calls found in one pass, the given
description read only when there is one. Each is held here to the general path it stands for.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.contract import DESCRIPTION_MAX
from infinium_otel.conventions.kind import SpanKind
from infinium_otel.conventions.values import text
from infinium_otel.payload import convert, usage
from infinium_otel.payload.encode import cap
from infinium_otel.payload.environment import environment
from infinium_otel.payload.order import plain_text
from infinium_otel.payload.run import Run
from infinium_otel.payload.steps import StepNode

from . import reference_convert, reference_environment, reference_usage
from .builder import BASE_NS, MS, Trace


class _Text(str):
    """A str subclass, as an instrumentation may hand over (a StrEnum, a wrapped id)."""

    def __str__(self) -> str:
        return "shown:" + super().__str__()


def _run(root_attributes: dict[str, Any] | None = None) -> Run:
    trace = Trace({"service.name": "support"})
    root = trace.start(
        "invoke_agent helper",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"}
        | (root_attributes or {}),
    )
    trace.span(
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        parent=root,
        at=1,
        until=5,
    )
    root.end(end_time=BASE_NS + 10 * MS)
    return trace.run(root)


_TAG_VALUE = st.one_of(st.text(max_size=6), st.text(max_size=6).map(_Text))


@settings(max_examples=200, deadline=None)
@given(
    st.dictionaries(st.sampled_from(["otel.trace_id", "a", "b", "partial"]), _TAG_VALUE),
    st.one_of(st.none(), _TAG_VALUE),
)
def test_custom_tags_are_what_cleaning_each_value_gave(
    tags: dict[str, str], conversation: str | None
) -> None:
    spans = [convert.read_facts(span) for span in _run().spans]
    spans[0] = dataclasses.replace(spans[0], conversation_id=conversation)
    given_tags = dict(tags)
    shown = environment(spans, {"service.name": "support"}, "9.9", given_tags)
    expected = reference_environment.environment(
        spans, {"service.name": "support"}, "9.9", dict(tags)
    )
    assert shown == expected
    assert json.dumps(shown) == json.dumps(expected)  # a subclass shows its own str()
    assert all(type(value) is str for value in shown["custom_tags"].values())
    assert shown["custom_tags"] is not given_tags  # a copy, never the caller's dict


def test_a_str_subclass_tag_is_shown_as_its_str() -> None:
    tags = {"otel.trace_id": _Text("ab")}
    shown = environment([], {}, "9.9", tags)["custom_tags"]
    assert shown["otel.trace_id"] == "shown:ab"
    assert type(shown["otel.trace_id"]) is str


_MODEL = st.one_of(st.none(), st.sampled_from(["gpt-4o", "claude", "", "x" * 300]))
_PROVIDER = st.one_of(st.none(), st.sampled_from(["openai", "anthropic", ""]))
_COUNT = st.one_of(
    st.none(), st.integers(0, 2**66), st.booleans(), st.sampled_from([1.5, float("nan")])
)


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.tuples(_MODEL, _PROVIDER, _COUNT, _COUNT, _COUNT), min_size=1, max_size=5),
    st.booleans(),
)
def test_usage_is_what_the_general_path_gave(
    reported: list[tuple[Any, Any, Any, Any, Any]], timed: bool
) -> None:
    template = convert.read_facts(_run().spans[0])
    calls = []
    for index, (model, provider, prompt, completion, total) in enumerate(reported):
        facts = dataclasses.replace(template, span_id=index + 1, model=model, provider=provider)
        facts.input_tokens, facts.output_tokens, facts.total_tokens = prompt, completion, total
        if not timed:
            facts.end = None
        calls.append(facts)
    shown = usage.llm_usage(calls)
    expected = reference_usage.llm_usage(calls)
    assert json.dumps(shown) == json.dumps(expected)  # same values, types and key order


_KINDS = st.sampled_from([SpanKind.LLM, SpanKind.AGENT, SpanKind.WORKFLOW, SpanKind.TOOL])


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(_KINDS, st.booleans(), st.integers(0, 30)),  # kind, has usage, parent pick
        min_size=1,
        max_size=12,
    )
)
def test_counted_calls_are_what_the_general_path_counted(
    shape: list[tuple[SpanKind, bool, int]],
) -> None:
    template = convert.read_facts(_run().spans[0])
    steps: list[StepNode] = []
    for index, (kind, tokens, pick) in enumerate(shape):
        facts = dataclasses.replace(template, span_id=index + 1, kind=kind)
        facts.input_tokens, facts.output_tokens, facts.total_tokens = (
            (10, None, None) if tokens else (None, None, None)
        )
        parent = steps[pick % len(steps)] if steps and pick < 20 else None
        steps.append(StepNode(facts, parent, 1 if parent is None else parent.depth + 1))
    assert usage.usage_nodes(steps) == reference_usage.usage_nodes(steps)


_DESCRIPTION = st.one_of(
    st.none(),
    st.text(max_size=8),
    st.sampled_from(["", "x" * 3000, b"bytes", b"", 0, 1, 2.5, float("nan"), True, False]),
    st.lists(st.text(max_size=3), max_size=3).map(tuple),
)


@settings(max_examples=200, deadline=None)
@given(_DESCRIPTION)
def test_a_given_description_is_read_as_text_read_it(value: Any) -> None:
    run = _run({} if value is None else {"infinium.description": value})
    shown = convert.convert_run(run)["description"]
    said = text(convert.span_attributes(run.root).get("infinium.description"))
    if said:
        assert shown == plain_text(cap(said, DESCRIPTION_MAX))
    else:
        assert shown.startswith("Agent run 'helper': 1 step, 1 LLM call, 0 tool calls")


_TIME = st.one_of(
    st.none(),
    st.integers(-(10**15), 10**15),
    st.integers(0, 86_400 * 10**9 + 10**6),
    st.sampled_from([0, 86_400 * 10**9, 86_400 * 10**9 + 1, 500, 1_500, 2_500]),
    st.floats(allow_nan=True, allow_infinity=True),
)


@settings(max_examples=500, deadline=None)
@given(_TIME, _TIME)
def test_a_duration_is_what_clamping_it_gave(start: Any, end: Any) -> None:
    shown = convert._duration(start, end)
    expected = reference_convert._duration(start, end)
    assert json.dumps(shown) == json.dumps(expected)  # NaN, -0.0 and the clamp included


def test_the_trace_tag_is_the_runs_trace_id() -> None:
    run = _run()
    tags = convert.convert_run(run)["environment"]["custom_tags"]
    assert tags["otel.trace_id"] == f"{run.trace_id:032x}" != "0" * 32
    no_context = dataclasses.replace(run, root=ReadableSpan(name="root", context=None))
    assert no_context.trace_id == 0
    facts = convert.read_facts(run.root)
    assert convert._custom_tags(facts, no_context)["otel.trace_id"] == "0" * 32
