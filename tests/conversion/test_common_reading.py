"""The reading of the commonest spans (``read_common``) against the general reader.

Spans of every kind, with the names the fast reading takes and others, odd value types,
invalid UTF-8, huge values, mixed sequences, missing times, broken parent links and events,
convert to the same payload bytes whether ``read_common`` reads what it covers or the
general reader reads every span; where ``read_common`` answers, its facts are the general
reader's. The spans the fast reading must decline, it declines; the common ones it reads.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterator
from json.decoder import scanstring  # type: ignore[attr-defined]
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from infinium_otel.conventions import common
from infinium_otel.conventions.common import COVERED_NAMES, IGNORED_NAMES, read_common
from infinium_otel.conventions.dumped import (
    one_text_message,
    one_tool_call_message,
    system_then_user_text,
)
from infinium_otel.conventions.facts import read_span
from infinium_otel.conventions.new_input import new_input_of, new_input_text
from infinium_otel.conventions.values import json_value
from infinium_otel.payload import convert
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

from .builder import BASE_NS, MS, Trace

_TRICKY = ["{", "}", "[", "]", '"', "\\", '"}]}]', "\ud800", "é\u2028", "\n\t", "\x00", " "]
_TEXT = st.one_of(
    st.text(max_size=10),
    st.sampled_from(_TRICKY),
    st.lists(st.sampled_from(_TRICKY), min_size=2, max_size=4).map("".join),
    st.just("x" * 5000),
    st.text(max_size=6).map(lambda said: said + "\n"),  # an answer's trailing newline
)
_ROLE = st.sampled_from(
    ["user", "user", "assistant", "assistant", "system", "developer", "tool", "", "Us\\er"]
)
_ODD = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([b"\xff\xfe", b"ok", b""]),
    st.lists(st.sampled_from(["a", "", "\ud800"]), max_size=3).map(tuple),
    st.lists(st.integers(-3, 3), max_size=3).map(tuple),
    st.just(("a", 1)),  # a mixed sequence: the SDK drops it
)
_OPERATIONS = [
    "chat",
    "text_completion",
    "generate_content",
    "execute_tool",
    "invoke_agent",
    "invoke_workflow",
    "embeddings",
    "create_agent",
    "",
    "Chat",
    7,
]
_READ = sorted(COVERED_NAMES - IGNORED_NAMES - {"gen_ai.operation.name"})
_OTHER = [
    "openinference.span.kind",
    "input.value",
    "output.value",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.usage.cost",
    "infinium.input.summary",
    "infinium.output.summary",
    "gen_ai.system_instructions",
    "gen_ai.workflow.name",
    "traceloop.entity.name",
    "traceloop.span.kind",
    "llm.request.type",
    "http.request.method",
    "http.response.status_code",
    "session.id",
    "graph.node.id",
    "llm.invocation_parameters",
]


@st.composite
def _message_document(draw: st.DrawFn) -> Any:
    """A message attribute: one text message as json.dumps writes it, or anything near it."""
    role, said = draw(_ROLE), draw(_TEXT)
    one = [{"role": role, "parts": [{"type": "text", "content": said}]}]
    shape = draw(st.sampled_from([0, 7, 1, 7, 2, 3, 4, 5, 6, 8, 9]))
    if shape <= 3:
        return json.dumps(one, ensure_ascii=draw(st.booleans()))
    if shape == 4:
        return json.dumps(one) + draw(st.sampled_from([" ", "\n", "x", "]"]))
    if shape == 5:
        return json.dumps(one, separators=(",", ":"))
    if shape == 6:
        return json.dumps(
            [*one, {"role": draw(_ROLE), "parts": [{"type": "text", "content": said}]}]
        )
    if shape == 7:  # one call, as an agent loop's chat call answers
        arguments = draw(st.sampled_from([{"a": 1}, said, [said, 2.5], None, {"n": [{}]}]))
        part = {"type": "tool_call", "id": said, "name": draw(_TEXT), "arguments": arguments}
        message: dict[str, Any] = {"role": role, "parts": [part]}
        if draw(st.booleans()):
            message["finish_reason"] = draw(st.sampled_from(["tool_call", "", "\\"]))
        return json.dumps([message], ensure_ascii=draw(st.booleans()))
    if shape == 8:
        return json.dumps(one)[: draw(st.integers(0, 40))]
    return draw(_ODD)


@st.composite
def _attributes(draw: st.DrawFn) -> dict[str, Any]:
    attributes: dict[str, Any] = {}
    operation = draw(st.sampled_from([*_OPERATIONS, None]))
    if operation is not None:
        attributes["gen_ai.operation.name"] = operation
    for key in draw(st.lists(st.sampled_from(_READ), max_size=9)):
        if key in ("gen_ai.input.messages", "gen_ai.output.messages"):
            attributes[key] = draw(_message_document())
        elif key.startswith("gen_ai.usage."):
            attributes[key] = draw(st.one_of(st.integers(-5, 10**12), _ODD))
        elif key == "gen_ai.request.temperature":
            attributes[key] = draw(st.one_of(st.floats(allow_nan=True), _ODD))
        elif key == "gen_ai.tool.call.result":
            attributes[key] = draw(st.one_of(_TEXT, _message_document(), _ODD))
        else:
            attributes[key] = draw(st.one_of(_TEXT, _ODD))
    for key in draw(st.lists(st.sampled_from(sorted(IGNORED_NAMES)), max_size=3)):
        attributes[key] = draw(st.one_of(_TEXT, _ODD))
    if draw(st.integers(0, 3)) == 0:
        attributes[draw(st.sampled_from(_OTHER))] = draw(st.one_of(_TEXT, _ODD))
    return {key: value for key, value in attributes.items() if value is not None}


# A tool's result as content parts, whose text is shown rather than the JSON.
_CONTENT_PARTS = [
    '[{"type": "text", "text": "hi"}]',
    '[{"type": "text", "content": "hi"}, {"type": "text", "content": "there"}]',
    '[{"type": "text"}]',
    "[1, 2]",
]
_COMMON_OPERATIONS = [
    "chat",
    "execute_tool",
    "chat",
    "execute_tool",
    "invoke_agent",
    "text_completion",
    "generate_content",
]


@st.composite
def _plain_value(draw: st.DrawFn, key: str) -> Any:
    """The value of ``key`` a common span carries (now and then an odd one)."""
    if draw(st.integers(0, 24)) == 24:  # not 0: Hypothesis draws the smallest often
        return draw(_ODD)
    if key in ("gen_ai.input.messages", "gen_ai.output.messages"):
        return draw(_message_document())
    if key.startswith("gen_ai.usage."):
        return draw(st.one_of(st.integers(0, 10**6), st.just(-1)))
    if key == "gen_ai.request.temperature":
        return draw(st.one_of(st.floats(0.0, 2.0), st.just(-1.0)))
    if key == "gen_ai.tool.call.result":
        return draw(st.one_of(st.sampled_from(_CONTENT_PARTS), _TEXT, _message_document()))
    return draw(_TEXT)


@st.composite
def _common_attributes(draw: st.DrawFn) -> dict[str, Any]:
    """Mostly what the fast reading covers, in plain values: its every branch is taken."""
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": draw(st.sampled_from(_COMMON_OPERATIONS))
    }
    for key in _READ:
        if draw(st.integers(0, 2)) > 0:
            attributes[key] = draw(_plain_value(key))
    for key in draw(st.lists(st.sampled_from(sorted(IGNORED_NAMES)), max_size=2)):
        attributes[key] = draw(st.one_of(_TEXT, _ODD))
    if draw(st.integers(0, 7)) == 7:
        attributes[draw(st.sampled_from(_OTHER))] = draw(st.one_of(_TEXT, _ODD))
    return {key: value for key, value in attributes.items() if value is not None}


@st.composite
def _span_spec(draw: st.DrawFn) -> dict[str, Any]:
    events: list[Event] = []
    if draw(st.integers(0, 7)) == 7:
        events.append(Event("exception", {"exception.message": "broke"}, timestamp=BASE_NS))
    start = draw(st.sampled_from([10, 1, 0, 50, 10, 70, None]))
    return {
        "attributes": draw(st.one_of(_attributes(), _common_attributes(), _common_attributes())),
        "events": events,
        "failed": draw(st.booleans()),
        "description": draw(st.sampled_from(["boom", None, ""])),
        "name": draw(st.sampled_from(["chat m", "chat m", "run", "run", "", "\ud800"])),
        "start": start,
        "end": draw(st.sampled_from([60, 80, 60, 5, 0, 80, None])),
        "parent": draw(st.integers(0, 8)),
        "scope": draw(st.sampled_from([("app", "1.2"), ("app", None), None, ("", "")])),
    }


def _span(index: int, spec: dict[str, Any], count: int) -> ReadableSpan:
    """A span as the SDK exports it (its attributes and events in the SDK's own types)."""
    parent_index = spec["parent"]
    if index == 0:
        parent = None
    elif parent_index < index:
        parent = SpanContext(0xABC, parent_index + 1, False)
    else:  # a parent the run does not hold, or a later span
        parent = SpanContext(0xABC, parent_index + 1 if parent_index < count else 999, False)
    start, end = spec["start"], spec["end"]
    scope = spec["scope"]
    return ReadableSpan(
        name=spec["name"],
        context=SpanContext(0xABC, index + 1, False, TraceFlags(1)),
        parent=parent,
        attributes=BoundedAttributes(attributes=spec["attributes"], immutable=True),
        events=BoundedList.from_seq(None, spec["events"]),
        kind=SpanKind.INTERNAL,
        status=Status(StatusCode.ERROR, spec["description"])
        if spec["failed"]
        else Status(StatusCode.UNSET),
        start_time=None if start is None else BASE_NS + start * MS,
        end_time=None if end is None else BASE_NS + end * MS,
        instrumentation_scope=None if scope is None else InstrumentationScope(*scope),
    )


def _general_only() -> Iterator[None]:
    """Every span read by the general reader: ``read_common`` declines all."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(convert, "read_common", lambda span, capture_content=True: None)
        yield


def _payload(run: Run, capture: bool) -> bytes:
    return encode_payload(convert.convert_run(run, capture_content=capture)).body


def _assert_fast_reading_matches_general(spans: list[ReadableSpan], capture: bool) -> None:
    """Each span the fast reading takes gives the general reader's facts, and the run
    (rooted at the first span) gives the same payload bytes with and without it."""
    for span in spans:
        fast = read_common(span, capture)
        if fast is not None:
            general = read_span(span, capture)
            assert dataclasses.astuple(fast[0]) == dataclasses.astuple(general[0])
            assert fast[1] == general[1]
    run = Run(spans[0], tuple(spans))
    fast_bytes = _payload(run, capture)
    for _ in _general_only():
        general_bytes = _payload(run, capture)
    assert fast_bytes == general_bytes


@settings(
    max_examples=600,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(_span_spec(), min_size=1, max_size=7), st.sampled_from([True, True, False]))
def test_payloads_are_the_same_bytes_with_and_without_the_fast_reading(
    specs: list[dict[str, Any]], capture: bool
) -> None:
    spans = [_span(index, spec, len(specs)) for index, spec in enumerate(specs)]
    _assert_fast_reading_matches_general(spans, capture)


def _common_run() -> Run:
    """A GenAI agent run made by the SDK: an agent, a chat call and a tool call."""
    trace = Trace()
    root = trace.start(
        "invoke_agent support",
        {
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": "support",
            "gen_ai.provider.name": "openai",
            "gen_ai.conversation.id": "c-1",
        },
        at=0,
    )
    question = [{"role": "user", "parts": [{"type": "text", "content": "Where is it?"}]}]
    answer = [{"role": "assistant", "parts": [{"type": "text", "content": "In Lyon."}]}]
    trace.span(
        "chat gpt",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.provider.name": "openai",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
            "gen_ai.response.id": "r1",
            "gen_ai.response.finish_reasons": ("stop",),
            "gen_ai.request.temperature": 0.2,
            "gen_ai.usage.input_tokens": 12,
            "gen_ai.usage.output_tokens": 4,
            "server.address": "api.openai.com",
            "server.port": 443,
            "gen_ai.input.messages": json.dumps(question),
            "gen_ai.output.messages": json.dumps(answer),
        },
        parent=root,
        at=1,
        until=5,
    )
    trace.span(
        "execute_tool track",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "track",
            "gen_ai.tool.call.id": "t1",
            "gen_ai.tool.call.arguments": '{"parcel": 7}',
            "gen_ai.tool.call.result": '{"hub": "Lyon"}',
        },
        parent=root,
        at=6,
        until=8,
    )
    root.end(end_time=BASE_NS + 10 * MS)
    return trace.run(root)


def test_the_common_spans_of_an_sdk_run_are_read_by_the_fast_reading() -> None:
    run = _common_run()
    for span in run.spans:
        fast = read_common(span)
        assert fast is not None, span.name
        assert dataclasses.astuple(fast[0]) == dataclasses.astuple(read_span(span)[0])
    chat = next(s for s in run.spans if s.name == "chat gpt")
    facts = read_common(chat)
    assert facts is not None
    assert (facts[0].input_text, facts[0].output_text) == ("Where is it?", "In Lyon.")
    assert facts[0].model == "gpt-4o-mini-2024-07-18"
    fast_bytes = _payload(run, True)
    for _ in _general_only():
        assert _payload(run, True) == fast_bytes


def _with(span: ReadableSpan, **changes: Any) -> ReadableSpan:
    attributes = dict(span.attributes or {})
    attributes.update(changes.pop("attributes", {}))
    fields: dict[str, Any] = {
        "name": span.name,
        "context": span.context,
        "parent": span.parent,
        "attributes": BoundedAttributes(attributes=attributes, immutable=True),
        "events": BoundedList.from_seq(None, list(span.events)),
        "status": span.status,
        "start_time": span.start_time,
        "end_time": span.end_time,
        "instrumentation_scope": span.instrumentation_scope,
    }
    fields.update(changes)
    return ReadableSpan(**fields)


_DECLINED = {
    "another convention's name": {"attributes": {"openinference.span.kind": "LLM"}},
    "an explicit summary": {"attributes": {"infinium.input.summary": "asked"}},
    "an older token name": {"attributes": {"gen_ai.usage.prompt_tokens": 3}},
    "a count that is not an int": {"attributes": {"gen_ai.usage.input_tokens": 3.0}},
    "a bool count": {"attributes": {"gen_ai.usage.input_tokens": True}},
    "a model that is not a string": {"attributes": {"gen_ai.response.model": 4}},
    "a NaN temperature": {"attributes": {"gen_ai.request.temperature": float("nan")}},
    "an int temperature": {"attributes": {"gen_ai.request.temperature": 1}},
    "a workflow": {"attributes": {"gen_ai.operation.name": "invoke_workflow"}},
    "an embedding": {"attributes": {"gen_ai.operation.name": "embeddings"}},
    "events": {"events": BoundedList.from_seq(None, [Event("exception", {})])},
    "no end": {"end_time": None},
    "a status description that is not a string": {"status": Status(StatusCode.ERROR, None)},
    "no name": {"name": ""},
    "attributes in a plain dict": {"attributes": {}, "_plain": True},
}


@pytest.mark.parametrize("case", sorted(_DECLINED))
def test_spans_the_fast_reading_does_not_cover_are_declined(case: str) -> None:
    chat = next(s for s in _common_run().spans if s.name == "chat gpt")
    changes = dict(_DECLINED[case])
    plain = changes.pop("_plain", False)
    span = _with(chat, **changes)
    if plain:
        span = ReadableSpan(
            name=chat.name,
            context=chat.context,
            attributes=dict(chat.attributes or {}),
            start_time=chat.start_time,
            end_time=chat.end_time,
        )
    if case == "a status description that is not a string":
        object.__setattr__(span._status, "_description", 5)  # as a span made elsewhere may
    assert read_common(span) is None
    assert read_common(chat) is not None  # the span it was made from is read


@settings(max_examples=800, deadline=None)
@given(_ROLE, _TEXT, st.booleans(), st.integers(0, 3))
def test_one_text_message_reads_what_json_loads_reads(
    role: str, said: str, ascii_only: bool, damage: int
) -> None:
    document = json.dumps(
        [{"role": role, "parts": [{"type": "text", "content": said}]}], ensure_ascii=ascii_only
    )
    if damage == 1:
        document = document[:-1]
    elif damage == 2:
        document += " "
    elif damage == 3:
        document = document.replace('"content"', '"text"')
    found = one_text_message(document)
    if damage:
        assert found is None
    elif role and said:
        assert found == (role, said)
    else:
        assert found is None


def _one_text_message_scanned(document: str) -> tuple[str, str] | None:
    """one_text_message as it was before the commonest roles' heads were compared whole:
    the role always scanned."""
    head, middle, tail = '[{"role": "', '", "parts": [{"type": "text", "content": "', '"}]}]'
    if not document.endswith(tail) or not document.startswith(head):
        return None
    try:
        role, at = scanstring(document, len(head))
        if not document.startswith(middle, at - 1):
            return None
        said, at = scanstring(document, at + len(middle) - 1)
    except ValueError:
        return None
    if at + len(tail) - 1 != len(document) or not role or not said:
        return None
    return role, said


_HEADS = st.sampled_from(
    [
        '[{"role": "user", "parts": [{"type": "text", "content": "',
        '[{"role": "assistant", "parts": [{"type": "text", "content": "',
        '[{"role": "users", "parts": [{"type": "text", "content": "',
        '[{"role": "us\\u0065r", "parts": [{"type": "text", "content": "',
        '[{"role": "user", "parts": [{"type": "text", "text": "',
        '[{"role": "assistant", "parts": [{"type": "text", "content":"',
        '[{"role": "tool", "parts": [{"type": "text", "content": "',
        '[{"role": "user"',
        "",
    ]
)
_BODIES = st.one_of(
    _TEXT.map(lambda said: json.dumps(said)[1:-1]),  # a string's inside, as dumps writes it
    _TEXT,  # raw: quotes, backslashes and control characters as they are
)
_TAILS = st.sampled_from(['"}]}]', '"}]}] ', '"}]}, {"role": "user"}]', '"}]}]"}]}]', ""])


@settings(max_examples=1500, deadline=None)
@given(_HEADS, _BODIES, _TAILS)
def test_the_commonest_roles_heads_read_what_the_role_scan_reads(
    head: str, body: str, tail: str
) -> None:
    document = head + body + tail
    assert one_text_message(document) == _one_text_message_scanned(document)


def test_the_commonest_roles_heads_give_their_text() -> None:
    for role in ("user", "assistant"):
        said = 'a "quoted" \\ text\n'
        document = json.dumps([{"role": role, "parts": [{"type": "text", "content": said}]}])
        assert one_text_message(document) == (role, said)
        assert one_text_message(document) == _one_text_message_scanned(document)


def _new_input_parsed_whole(document: str) -> str | None:
    """new_input_text as a short history was read before its commonest form was matched as
    text: parsed whole, then read from its end."""
    parsed = json_value(document)
    if not isinstance(parsed, list):
        return None
    return new_input_of(reversed(parsed))


@settings(max_examples=1500, deadline=None)
@given(_ROLE, _TEXT, _ROLE, _TEXT, st.integers(0, 5))
def test_a_system_prompt_then_a_question_reads_what_parsing_it_reads(
    first_role: str, first: str, role: str, said: str, damage: int
) -> None:
    document = json.dumps(
        [
            {"role": first_role, "parts": [{"type": "text", "content": first}]},
            {"role": role, "parts": [{"type": "text", "content": said}]},
        ]
    )
    if damage == 1:
        document = document[:-1]
    elif damage == 2:
        document += " "
    elif damage == 3:
        document = document.replace('}]}, {"role"', '}]},{"role"')
    elif damage == 4:  # a raw control character in the system prompt: invalid JSON
        document = document.replace('"content": "', '"content": "\t', 1)
    elif damage == 5:  # a third turn after the question, ending as the question does
        third = json.dumps([{"role": "tool", "parts": [{"type": "text", "content": "ok"}]}])
        document = document[:-1] + ", " + third[1:]
    assert new_input_text(document) == _new_input_parsed_whole(document)
    if not damage and first_role == "system" and role == "user" and said:
        assert system_then_user_text(document) == said


def test_a_system_prompt_then_a_question_gives_the_question() -> None:
    document = json.dumps(
        [
            {"role": "system", "parts": [{"type": "text", "content": 'Be "brief".'}]},
            {"role": "user", "parts": [{"type": "text", "content": "Where is\nparcel 7?"}]},
        ]
    )
    assert system_then_user_text(document) == "Where is\nparcel 7?"
    assert new_input_text(document) == "Where is\nparcel 7?"
    assert system_then_user_text(document.replace('"user"', '"tool"')) is None
    assert system_then_user_text(document.replace("Where is\\nparcel 7?", "")) is None


def test_raw_control_characters_are_refused_as_json_loads_refuses_them() -> None:
    escaped = '[{"role": "user", "parts": [{"type": "text", "content": "a\\tb"}]}]'
    assert one_text_message(escaped) == ("user", "a\tb")
    raw = '[{"role": "user", "parts": [{"type": "text", "content": "a\tb"}]}]'
    assert one_text_message(raw) is None
    with pytest.raises(ValueError):
        json.loads(raw)


def test_the_covered_shapes_stay_bounded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(common, "_COVERED_SHAPES", {})
    for index in range(common._MAX_SHAPES + 10):
        common._shape((f"key{index}",))
    assert len(common._COVERED_SHAPES) <= common._MAX_SHAPES


@settings(max_examples=600, deadline=None)
@given(_ROLE, _TEXT, st.one_of(_TEXT, st.integers(), st.lists(_TEXT, max_size=2)), st.data())
def test_one_tool_call_message_reads_what_json_loads_reads(
    role: str, name: str, arguments: Any, data: Any
) -> None:
    part = {"type": "tool_call", "id": "c1", "name": name, "arguments": arguments}
    message: dict[str, Any] = {"role": role, "parts": [part]}
    if data.draw(st.booleans()):
        message["finish_reason"] = data.draw(_TEXT)
    document = json.dumps([message], ensure_ascii=data.draw(st.booleans()))
    damage = data.draw(st.integers(0, 3))
    if damage == 1:
        document = document[:-1]
    elif damage == 2:
        document += "]"
    elif damage == 3:
        document = document.replace('"arguments"', '"input"')
    found = one_tool_call_message(document)
    if damage or not role or not name:
        assert found is None
    else:
        assert found == (role, name, json.loads(document)[0]["parts"][0]["arguments"])


def _wire_safe(value: Any) -> Any:
    """``value`` as OTLP can carry it: texts without lone surrogates, ints in 64 bits."""
    if type(value) is str:
        return value.encode("utf-8", "replace").decode("utf-8")
    if type(value) is int:
        return max(-(2**63), min(2**63 - 1, value))
    if type(value) is tuple:
        return tuple(_wire_safe(item) for item in value)
    return value


def _through_the_gateway(spans: list[ReadableSpan]) -> list[ReadableSpan]:
    """``spans`` as the gateway makes them: encoded by the official OTLP encoder, then
    parsed and decoded by the gateway (attributes in its own holder, events a list)."""
    trace_encoder = pytest.importorskip("opentelemetry.exporter.otlp.proto.common.trace_encoder")
    from infinium_otel.gateway.decode import decode_request
    from infinium_otel.gateway.wire import new_request

    request = new_request()
    request.ParseFromString(trace_encoder.encode_spans(spans).SerializeToString())
    decoded = decode_request(request)
    assert decoded.rejected == 0
    return sorted(decoded.spans, key=lambda span: span.context.span_id)


def _wire_spec(spec: dict[str, Any]) -> dict[str, Any]:
    """A generated span made sendable: an end time (the gateway refuses spans without
    one), texts and counts OTLP can carry."""
    attributes = {key: _wire_safe(value) for key, value in spec["attributes"].items()}
    return {
        **spec,
        "attributes": attributes,
        "name": _wire_safe(spec["name"]),
        "end": spec["end"] or 60,
        "description": _wire_safe(spec["description"]),
    }


@settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(_span_spec(), min_size=1, max_size=7), st.sampled_from([True, True, False]))
def test_spans_decoded_by_the_gateway_read_the_same_with_and_without_the_fast_reading(
    specs: list[dict[str, Any]], capture: bool
) -> None:
    sent = [_span(index, _wire_spec(spec), len(specs)) for index, spec in enumerate(specs)]
    spans = _through_the_gateway(sent)
    assert len(spans) == len(sent)
    _assert_fast_reading_matches_general(spans, capture)


def test_the_common_spans_of_a_run_decoded_by_the_gateway_are_read_by_the_fast_reading() -> None:
    sdk_run = _common_run()
    spans = _through_the_gateway(list(sdk_run.spans))
    by_id = {span.context.span_id: span for span in spans}
    for sdk_span in sdk_run.spans:
        span = by_id[sdk_span.context.span_id]
        fast = read_common(span)
        assert fast is not None, span.name
        assert dataclasses.astuple(fast[0]) == dataclasses.astuple(read_common(sdk_span)[0])
    root = by_id[sdk_run.root.context.span_id]
    run = Run(root, tuple(spans))
    fast_bytes = _payload(run, True)
    for _ in _general_only():
        assert _payload(run, True) == fast_bytes
    # The same payload as the run's SDK spans give, but for what OTLP does not carry.
    assert fast_bytes == _payload(sdk_run, True)


def test_decoded_spans_with_events_are_left_to_the_general_reader() -> None:
    sdk_run = _common_run()
    chat = next(s for s in sdk_run.spans if s.name == "chat gpt")
    event = Event("exception", {"exception.message": "broke"}, timestamp=BASE_NS)
    (decoded,) = _through_the_gateway([_with(chat, events=BoundedList.from_seq(None, [event]))])
    assert type(decoded.events) in (list, tuple) and len(decoded.events) == 1
    assert read_common(decoded) is None
    assert read_span(decoded)[1] is True
