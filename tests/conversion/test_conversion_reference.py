"""The conversion against the former one (``reference_convert.py``), payload for payload.

Spans are generated across the conventions (GenAI attributes and events, OpenInference,
OpenLLMetry, pydantic-ai), with histories in every message shape, JSON written in several
ways, odd attribute types, invalid UTF-8, lone surrogates and huge values, content capture
on and off. Every payload must encode to the same bytes as with the former reading.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags

from infinium_otel.conventions import facts as facts_module
from infinium_otel.conventions import flattened, messages, new_input
from infinium_otel.conventions.messages import content_text
from infinium_otel.conventions.new_input import new_input_text
from infinium_otel.conventions.values import json_value, to_json
from infinium_otel.payload import convert
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

from . import reference_convert, reference_facts
from .builder import BASE_NS, MS, Trace

_TRICKY = [
    "{",
    "}",
    "[",
    "]",
    '"',
    "\\",
    ", {",
    "}, {",
    '{"role": "assistant", "content": "fake"}',
    '"}, {"role": "assistant", "content": "x"}, {"a": "',
    "\ud800",
    "é\u2028",
    "\n\t",
    "assistant",
]
_TEXT = st.one_of(
    st.text(max_size=12),
    st.sampled_from(_TRICKY),
    st.lists(st.sampled_from(_TRICKY), min_size=2, max_size=4).map("".join),
)
_ROLE = st.sampled_from(["user", "assistant", "system", "developer", "tool", "model", "ai", None])
_JSONISH: st.SearchStrategy[Any] = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), _TEXT),
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.sampled_from(["a", "b", "{"]), inner)
    ),
    max_leaves=6,
)
_PART = st.one_of(
    st.fixed_dictionaries({"type": st.just("text"), "content": _TEXT}),
    st.fixed_dictionaries({"type": st.just("text"), "text": _TEXT}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["tool_call", "function_call", "tool_use"]), "name": _TEXT},
        optional={"id": _TEXT, "arguments": _JSONISH, "input": _JSONISH},
    ),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["tool_call_response", "tool_result"]), "response": _JSONISH}
    ),
    st.fixed_dictionaries({"type": st.sampled_from(["reasoning", "thinking"]), "content": _TEXT}),
    st.fixed_dictionaries(
        {"type": st.sampled_from(["uri", "blob", "image"]), "mime_type": _TEXT, "uri": _TEXT}
    ),
    st.fixed_dictionaries({"text": _TEXT}),
    st.fixed_dictionaries({"toolUse": st.fixed_dictionaries({"name": _TEXT, "input": _JSONISH})}),
    st.fixed_dictionaries({"toolResult": st.fixed_dictionaries({"content": _JSONISH})}),
    st.fixed_dictionaries({"json": _JSONISH}),
    st.fixed_dictionaries({"type": _JSONISH}, optional={"content": _TEXT, "text": _TEXT}),
    _TEXT,
)
_MESSAGE: st.SearchStrategy[Any] = st.one_of(
    st.fixed_dictionaries({"role": _ROLE}, optional={"parts": st.lists(_PART, max_size=3)}),
    st.fixed_dictionaries(
        {"role": _ROLE},
        optional={
            "content": st.one_of(_TEXT, st.lists(_PART, max_size=2), _JSONISH),
            "tool_calls": st.lists(
                st.fixed_dictionaries(
                    {"function": st.fixed_dictionaries({"name": _TEXT, "arguments": _TEXT})}
                ),
                max_size=2,
            ),
        },
    ),
    st.fixed_dictionaries(
        {
            "type": st.sampled_from(["human", "ai", "tool"]),
            "data": st.fixed_dictionaries({"content": _TEXT}),
        }
    ),
    st.fixed_dictionaries(
        {
            "lc": st.just(1),
            "id": st.just(["langchain", "schema", "AIMessage"]),
            "kwargs": st.fixed_dictionaries(
                {"content": _TEXT},
                optional={
                    "tool_calls": st.lists(
                        st.fixed_dictionaries({"name": _TEXT, "args": _JSONISH}), max_size=2
                    )
                },
            ),
        }
    ),
    _JSONISH,
)
_HISTORY = st.lists(_MESSAGE, max_size=8)


@st.composite
def _written(draw: st.DrawFn, value: Any) -> Any:
    """``value`` as an attribute: JSON text written in one of several ways, possibly damaged."""
    how = draw(st.sampled_from(["compact", "spaced", "indented", "ascii", "raw", "bytes"]))
    if how == "raw":
        return value
    separators = (",", ":") if how == "compact" else None
    indent = 2 if how == "indented" else None
    try:
        written = json.dumps(
            value, ensure_ascii=how == "ascii", separators=separators, indent=indent
        )
    except ValueError:
        return value
    damage = draw(st.sampled_from(["none", "none", "truncated", "padded", "lead", "invalid utf-8"]))
    if damage == "truncated" and written:
        written = written[: draw(st.integers(0, len(written) - 1))]
    elif damage == "padded":
        written = written + " \n\t\r"
    elif damage == "lead":
        written = " " + written
    if how == "bytes" or damage == "invalid utf-8":
        encoded = written.encode("utf-8", "surrogatepass")
        return encoded + b"\xff" if damage == "invalid utf-8" else encoded
    return written


_ODD = st.one_of(
    st.text(max_size=6),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.binary(max_size=8),
    st.lists(st.text(max_size=4), max_size=3).map(tuple),
    st.sampled_from(["x" * 200_000, "[" + '{"role": "user", "content": "a"},' * 2000 + "1]"]),
)

_SCALAR_KEYS = [
    "gen_ai.request.model",
    "gen_ai.response.model",
    "gen_ai.provider.name",
    "gen_ai.system",
    "gen_ai.agent.name",
    "gen_ai.workflow.name",
    "gen_ai.usage.input_tokens",
    "gen_ai.usage.output_tokens",
    "gen_ai.usage.total_tokens",
    "gen_ai.usage.prompt_tokens",
    "gen_ai.request.temperature",
    "gen_ai.tool.name",
    "gen_ai.tool.call.arguments",
    "gen_ai.tool.call.result",
    "gen_ai.conversation.id",
    "operation.cost",
    "session.id",
    "user.id",
    "llm.model_name",
    "llm.provider",
    "llm.token_count.prompt",
    "llm.token_count.completion",
    "llm.invocation_parameters",
    "input.value",
    "output.value",
    "tool.name",
    "graph.node.id",
    "traceloop.entity.name",
    "traceloop.workflow.name",
    "traceloop.entity.input",
    "traceloop.entity.output",
    "llm.usage.total_tokens",
    "http.response.status_code",
    "http.request.method",
    "server.address",
    "infinium.input_summary",
    "infinium.output_summary",
    "pydantic_ai.all_messages",
    "final_result",
]
_MESSAGE_KEYS = [
    "gen_ai.input.messages",
    "gen_ai.output.messages",
    "gen_ai.system_instructions",
    "pydantic_ai.all_messages",
    "input.value",
    "output.value",
    "gen_ai.tool.call.result",
    "traceloop.entity.input",
]
_KINDS = [
    {"gen_ai.operation.name": "chat"},
    {"gen_ai.operation.name": "invoke_agent"},
    {"gen_ai.operation.name": "execute_tool"},
    {"gen_ai.operation.name": "embeddings"},
    {"gen_ai.operation.name": "made_up", "gen_ai.request.model": "m"},
    {"openinference.span.kind": "LLM"},
    {"openinference.span.kind": "agent"},
    {"openinference.span.kind": "TOOL"},
    {"openinference.span.kind": "CHAIN"},
    {"traceloop.span.kind": "workflow"},
    {"traceloop.span.kind": "agent"},
    {"traceloop.span.kind": "tool"},
    {"traceloop.span.kind": "task"},
    {"llm.request.type": "chat"},
    {},
]


@st.composite
def _flattened(draw: st.DrawFn) -> dict[str, Any]:
    """OpenInference ``llm.input_messages.N.message.*`` / OpenLLMetry ``gen_ai.prompt.N.*``."""
    prefix, inner = draw(
        st.sampled_from(
            [
                ("llm.input_messages.", "message."),
                ("llm.output_messages.", "message."),
                ("gen_ai.prompt.", ""),
                ("gen_ai.completion.", ""),
            ]
        )
    )
    attributes: dict[str, Any] = {}
    for index in range(draw(st.integers(0, 6))):
        base = f"{prefix}{index}.{inner}"
        role = draw(_ROLE)
        if role is not None:
            attributes[base + "role"] = role
        if draw(st.booleans()):
            attributes[base + "content"] = draw(st.one_of(_TEXT, _ODD))
        if draw(st.booleans()):
            attributes[base + "tool_calls.0.name"] = draw(_TEXT)
            attributes[base + "tool_calls.0.arguments"] = draw(_TEXT)
    return attributes


@st.composite
def _events(draw: st.DrawFn) -> tuple[Event, ...]:
    events: list[Event] = []
    for _ in range(draw(st.integers(0, 3))):
        name = draw(
            st.sampled_from(
                [
                    "gen_ai.user.message",
                    "gen_ai.system.message",
                    "gen_ai.assistant.message",
                    "gen_ai.tool.message",
                    "gen_ai.choice",
                    "gen_ai.client.inference.operation.details",
                    "gen_ai.content.prompt",
                    "gen_ai.content.completion",
                    "exception",
                ]
            )
        )
        key = draw(
            st.sampled_from(
                [
                    "content",
                    "message",
                    "gen_ai.input.messages",
                    "gen_ai.output.messages",
                    "gen_ai.prompt",
                    "gen_ai.completion",
                    "exception.message",
                ]
            )
        )
        value = draw(st.one_of(_written(draw(st.one_of(_HISTORY, _MESSAGE))), _ODD))
        events.append(Event(name, {key: value}, timestamp=BASE_NS))
    return tuple(events)


@st.composite
def _span_spec(draw: st.DrawFn) -> dict[str, Any]:
    attributes: dict[str, Any] = dict(draw(st.sampled_from(_KINDS)))
    for key in draw(st.lists(st.sampled_from(_SCALAR_KEYS), max_size=6)):
        attributes[key] = draw(st.one_of(_TEXT, _ODD))
    for key in draw(st.lists(st.sampled_from(_MESSAGE_KEYS), max_size=3)):
        attributes[key] = draw(_written(draw(st.one_of(_HISTORY, _MESSAGE))))
    if draw(st.booleans()):
        attributes.update(draw(_flattened()))
    return {
        "attributes": attributes,
        "events": draw(_events()) if draw(st.booleans()) else (),
        "failed": draw(st.booleans()),
        "client": draw(st.booleans()),
        "name": draw(st.sampled_from(["chat m", "", "a.run", "\ud800"])),
    }


def _scanned(written: Any) -> str | None:
    """``new_input_text`` with every text, however short, read from its end."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(new_input, "_SCAN_FROM_END_OVER", 0)
        return new_input_text(written)


def _span(index: int, spec: dict[str, Any]) -> ReadableSpan:
    return ReadableSpan(
        name=spec["name"],
        context=SpanContext(0xABC, index + 1, False, TraceFlags(1)),
        parent=SpanContext(0xABC, 1, False) if index else None,
        attributes=spec["attributes"],
        events=spec["events"],
        kind=SpanKind.CLIENT if spec["client"] else SpanKind.INTERNAL,
        status=Status(StatusCode.ERROR, "boom") if spec["failed"] else Status(StatusCode.UNSET),
        start_time=BASE_NS + index * MS,
        end_time=BASE_NS + (index + 10) * MS,
    )


def _payload_bytes(run: Run, capture: bool, reference: bool) -> bytes:
    converting = reference_convert.convert_run if reference else convert.convert_run
    return encode_payload(converting(run, capture_content=capture)).body


@settings(
    max_examples=250,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(st.lists(_span_spec(), min_size=1, max_size=5), st.booleans())
def test_payloads_are_byte_identical_to_the_former_reading(
    specs: list[dict[str, Any]], capture: bool
) -> None:
    spans = tuple(_span(index, spec) for index, spec in enumerate(specs))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(new_input, "_SCAN_FROM_END_OVER", 0)  # short histories read from the end too
        for span in spans:
            now = dataclasses.astuple(facts_module.read_facts(span, capture))
            before = dataclasses.astuple(reference_facts.read_facts(span, capture))
            assert now == before
        run = Run(spans[0], spans)
        assert _payload_bytes(run, capture, False) == _payload_bytes(run, capture, True)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_history_read_from_its_end_shows_what_parsing_it_whole_showed(data: Any) -> None:
    history = data.draw(st.one_of(_HISTORY, st.lists(_MESSAGE, min_size=190, max_size=230)))
    written = data.draw(_written(history))
    assert _scanned(written) == reference_facts.new_input_text(written)
    assert new_input_text(written) == reference_facts.new_input_text(written)


@pytest.mark.parametrize("count", [0, 1, 199, 200, 201, 450])
def test_long_histories_without_an_assistant_turn_keep_the_last_200_messages(count: int) -> None:
    history = [{"role": "user", "content": f"m{i}"} for i in range(count)]
    written = json.dumps(history)
    assert new_input_text(written) == reference_facts.new_input_text(written)
    if count:
        assert new_input_text(written) is not None
        assert f"m{count - 1}" in (new_input_text(written) or "")


@pytest.mark.parametrize(
    "written",
    [
        '[{"role": "user", "content": "a"}, "plain", {"role": "tool", "content": "b"}]',
        '[{"role": "assistant", "content": "a"}, 7, {"role": "user", "content": "b"}]',
        '[{"role": "assistant", "content": "a"}, [{"role": "user"}], {"role": "user"}]',
        '{"messages": [{"role": "assistant", "content": "a"}, {"role": "user", "content": "b"}]}',
        '[{"role": "user", "content": "a"}, {"role": "user", "content": "b"}',
        '[{"role": "user", "content": "}, {\\"role\\": \\"assistant\\"}, {"}]',
        '[{"role": "user", "content": "x", "parts": [{"type": "text", "content": "y"}]}]',
        '[{"role": "user", "content": "q"}, {"role": "assistant", "parts": [{"type": ["x"]}]}]',
        '[{"role": "user"}, {"role": "assistant", "parts": [{"type": "text", "text": ""}]}]',
        '[{"role": "user", "content": "q"}, {"role": "assistant", "tool_calls": [1]}]',
        '[{"role": "user", "content": "q"}, {"role": "assistant", "message": {"role": "x"}}]',
        "[]",
        "[ ]",
        "[{}]",
        '\ufeff[{"role": "user", "content": "a"}]',
    ],
)
def test_texts_the_backward_scan_cannot_delimit_read_as_before(written: str) -> None:
    assert _scanned(written) == reference_facts.new_input_text(written)
    assert new_input_text(written) == reference_facts.new_input_text(written)


_VALUES = [
    '[{"role": "user", "content": "q"}, {"role": "assistant", "content": "a"}]',
    '{"raw": "r", "description": "d", "messages": [{"role": "user", "content": "m"}]}',
    '{"task": "t", "kwargs": {"x": 1}}',
    "plain",
    ("a", "b"),
    7,
    None,
]


def test_each_content_attribute_alone_reads_as_before() -> None:
    """Every attribute any reader looks at, alone on a span of every kind: the same facts."""
    keys = sorted(
        set(_SCALAR_KEYS)
        | set(_MESSAGE_KEYS)
        | set(facts_module._INPUT_KEYS)
        | set(facts_module._OUTPUT_KEYS)
    )
    compared = 0
    for kind in _KINDS:
        for key in keys:
            for value in _VALUES:
                for capture in (True, False):
                    spec = {"attributes": {**kind, key: value}, "events": ()}
                    spec.update(failed=False, client=False, name="s")
                    span = _span(1, spec)
                    now = dataclasses.astuple(facts_module.read_facts(span, capture))
                    before = dataclasses.astuple(reference_facts.read_facts(span, capture))
                    assert now == before, (kind, key, value, capture)
                    compared += 1
    assert compared == len(_KINDS) * len(keys) * len(_VALUES) * 2


def test_the_plan_cache_stays_bounded_and_plans_follow_each_key_set() -> None:
    """Spans of thousands of key sets: the cache of reading plans never passes its bound, and
    a key set seen before is read as the first time (a model under either name)."""
    for index in range(facts_module._MAX_PLANS * 3):
        attributes = {"gen_ai.operation.name": "chat", f"custom.{index}": index}
        name = "gen_ai.request.model" if index % 2 else "llm.model_name"
        attributes[name] = f"m{index}"
        spec = {"attributes": attributes, "events": (), "failed": False, "client": False}
        span = _span(1, {**spec, "name": "s"})
        assert facts_module.read_facts(span).model == f"m{index}"
        assert len(facts_module._PLANS) <= facts_module._MAX_PLANS
    again = {"gen_ai.operation.name": "chat", "custom.1": 1, "gen_ai.request.model": None}
    again["llm.model_name"] = "fallback"
    span = _span(
        1, {"attributes": again, "events": (), "failed": False, "client": False, "name": "s"}
    )
    assert facts_module.read_facts(span).model == "fallback"


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        _JSONISH,
        st.floats(allow_nan=True, allow_infinity=True),
        st.dictionaries(st.integers(), _TEXT, max_size=3),
        st.sets(st.integers(), max_size=3),
        st.binary(max_size=4),
    )
)
def test_compact_json_is_what_json_dumps_writes(value: Any) -> None:
    try:
        expected: str | None = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), default=str
        )
    except (ValueError, TypeError, RecursionError):
        expected = None
    assert to_json(value) == expected


def test_a_long_history_is_not_parsed_whole(monkeypatch: pytest.MonkeyPatch) -> None:
    history: list[dict[str, Any]] = []
    for turn in range(150):
        history.append({"role": "user", "parts": [{"type": "text", "content": f"q{turn}"}]})
        history.append({"role": "assistant", "parts": [{"type": "text", "content": f"a{turn}"}]})
    history.append({"role": "user", "parts": [{"type": "text", "content": "last"}]})
    written = json.dumps(history)

    def whole(value: Any) -> Any:
        raise AssertionError("the whole history was parsed")

    monkeypatch.setattr(new_input, "json_value", whole)
    assert new_input_text(written) == "last"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_a_tool_result_reads_as_before(data: Any) -> None:
    value = data.draw(st.one_of(st.lists(_PART, max_size=4), _MESSAGE, _HISTORY, _JSONISH))
    written = data.draw(st.one_of(_written(value), _ODD))
    assert content_text(written) == reference_facts.content_text(written)


_JSON_TEXTS = st.one_of(
    st.text(max_size=20),
    st.sampled_from(
        [
            '{"a": 1}  ',
            '{"a": 1} x',
            "[1, 2]\n\t\r ",
            "[1, 2]\u00a0",
            '"text"',
            '"unterminated',
            "[" * 5000 + "]" * 5000,
            "[" * 100_000,
            "[NaN, Infinity, -Infinity, 1e999, 123456789012345678901234567890]",
            '{"a": 1, "a": 2}',
            '["\\ud800", "\\u00e9"]',
            "\ufeff[1]",
            "[1]\x00",
        ]
    ),
)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_json_values_parse_as_json_loads_parsed_them(data: Any) -> None:
    value = data.draw(
        st.one_of(_JSON_TEXTS, _written(data.draw(st.one_of(_HISTORY, _JSONISH))), _ODD)
    )
    now, before = json_value(value), reference_facts.json_value_before(value)
    assert json.dumps(now, default=repr) == json.dumps(before, default=repr)


def _agent_run(rounds: int, capture_shape: str) -> Run:
    """An agent loop made by the real SDK: chat calls whose history grows by a tool call and
    its result each round, the tools between them (one failing), as GenAI instrumentors write."""
    built = Trace()
    root = built.start(
        "invoke_agent support",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    )
    history: list[dict[str, Any]] = [
        {"role": "system", "parts": [{"type": "text", "content": "You track parcels."}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is parcel 7?"}]},
    ]
    at = 1.0
    for turn in range(rounds):
        call = {"type": "tool_call", "id": f"c{turn}", "name": "track", "arguments": {"n": turn}}
        out = [{"role": "assistant", "parts": [call], "finish_reason": "tool_call"}]
        attributes: dict[str, Any] = {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o-mini",
            "gen_ai.provider.name": "openai",
            "gen_ai.usage.input_tokens": 100 + turn,
            "gen_ai.usage.output_tokens": 20,
            "gen_ai.request.temperature": 0.2,
        }
        if capture_shape == "json":
            attributes["gen_ai.input.messages"] = json.dumps(history)
            attributes["gen_ai.output.messages"] = json.dumps(out)
        else:
            for index, message in enumerate(history):
                attributes[f"gen_ai.prompt.{index}.role"] = message["role"]
                attributes[f"gen_ai.prompt.{index}.content"] = json.dumps(message["parts"])
        built.span("chat gpt-4o-mini", attributes, parent=root, at=at, until=at + 5)
        result = {"status": "in transit", "hub": "Lyon", "turn": turn}
        built.span(
            "execute_tool track",
            {
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "track",
                "gen_ai.tool.call.arguments": json.dumps({"n": turn}),
                "gen_ai.tool.call.result": json.dumps(result),
            },
            parent=root,
            at=at + 6,
            until=at + 8,
            exception=ValueError("hub closed") if turn == 1 else None,
        )
        history.append(out[0])
        history.append(
            {
                "role": "tool",
                "parts": [{"type": "tool_call_response", "id": f"c{turn}", "response": result}],
            }
        )
        at += 10
    root.end(end_time=BASE_NS + int(at * MS))
    return built.run(root)


@pytest.mark.parametrize("rounds", [1, 3, 30, 120])
@pytest.mark.parametrize("shape", ["json", "flattened"])
@pytest.mark.parametrize("capture", [True, False])
def test_agent_loops_made_by_the_sdk_convert_as_before(
    rounds: int, shape: str, capture: bool
) -> None:
    run = _agent_run(rounds, shape)
    body = _payload_bytes(run, capture, False)
    assert body == _payload_bytes(run, capture, True)
    assert (b'"input_preview":"tool result: ' in body) is (
        capture and rounds > 1 and shape == "json"
    )
    assert b'"prompt_tokens":100' in body


@pytest.mark.parametrize("odd_type", [["text"], {"a": 1}, 5, None])
@pytest.mark.parametrize(
    "messages_json",
    [
        '[{"role": "assistant", "parts": [{"type": %s, "content": "said"}]}]',
        '[{"role": "assistant", "content": [{"type": %s, "text": "said"}]}]',
        '[{"type": "ai", "data": {"content": "said", "type": %s}}]',
    ],
)
def test_a_part_or_message_type_that_is_a_json_list_or_object_does_not_fail_the_run(
    odd_type: Any, messages_json: str
) -> None:
    """A "type" that is a list or an object (unhashable) once made conversion raise."""
    written = messages_json % json.dumps(odd_type)
    attributes = {"gen_ai.operation.name": "invoke_agent", "gen_ai.output.messages": written}
    attributes["gen_ai.input.messages"] = written
    spec = {"attributes": attributes, "events": (), "failed": False, "client": False, "name": "a"}
    root = _span(0, spec)
    chat = _span(1, {**spec, "attributes": {**attributes, "gen_ai.operation.name": "chat"}})
    payload = json.loads(_payload_bytes(Run(root, (root, chat)), True, False))
    assert payload["steps"][0]["action"] == "llm_call"


@pytest.mark.parametrize(
    ("prefix", "inner", "kind"),
    [
        ("gen_ai.prompt.", "", {"llm.request.type": "chat"}),
        ("llm.input_messages.", "message.", {"openinference.span.kind": "LLM"}),
    ],
)
def test_a_flattened_history_renders_only_the_messages_after_the_last_assistant_one(
    monkeypatch: pytest.MonkeyPatch, prefix: str, inner: str, kind: dict[str, str]
) -> None:
    attributes: dict[str, Any] = dict(kind)
    index = 0
    for turn in range(100):
        for role, said in (("user", f"q{turn}"), ("assistant", f"a{turn}")):
            attributes[f"{prefix}{index}.{inner}role"] = role
            attributes[f"{prefix}{index}.{inner}content"] = said
            index += 1
    attributes[f"{prefix}{index}.{inner}role"] = "tool"
    attributes[f"{prefix}{index}.{inner}content"] = "the result"
    spec = {"attributes": attributes, "events": (), "failed": False, "client": False, "name": "c"}
    span = _span(1, spec)
    before = reference_facts.read_facts(span)
    rendered = 0
    real = messages.message_from

    def counting(item: Any, default_role: str = "user") -> Any:
        nonlocal rendered
        rendered += 1
        return real(item, default_role)

    monkeypatch.setattr(new_input, "message_from", counting)
    monkeypatch.setattr(flattened, "message_from", counting)
    now = facts_module.read_facts(span)
    assert now.input_text == before.input_text == "the result"
    assert dataclasses.astuple(now) == dataclasses.astuple(before)
    assert rendered == 1  # the tool message; the 200 turns before it are not rendered
