"""Plain LLM and tool steps, built as one literal, against the former conversion.

``step_dicts._plain_call_step`` builds a succeeded, timed LLM or tool step whose values are all
plain and short enough to be shown as they are; any other step goes through the general
step. Runs made by the real SDK, with steps at and just past each limit the plain path
checks, convert to the bytes ``reference_convert.py`` gives. Steps that start together at
different depths keep the former order (``build_tree`` sorts steps again only when two
start together).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from opentelemetry.trace import SpanKind as OtelSpanKind

from infinium_otel.contract import (
    STEP_INPUT_PREVIEW_MAX,
    STEP_OUTPUT_PREVIEW_MAX,
    TOOL_INPUT_SUMMARY_MAX,
    TOOL_OUTPUT_SUMMARY_MAX,
)
from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import SpanKind
from infinium_otel.payload import convert, step_dicts
from infinium_otel.payload.encode import SHORT_TEXT_MAX, encode_payload
from infinium_otel.payload.run import Run
from infinium_otel.payload.steps import build_tree

from . import reference_convert, reference_steps
from .builder import Trace


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _chat(**changes: Any) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.usage.input_tokens": 420,
        "gen_ai.usage.output_tokens": 96,
        "gen_ai.request.temperature": 0.2,
        "gen_ai.input.messages": _messages("user", "Where is parcel 7?"),
        "gen_ai.output.messages": _messages("assistant", "In Lyon."),
    }
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    return attributes


def _tool(
    arguments: str = '{"parcel": 7}', result: str = '{"hub": "Lyon"}', **changes: Any
) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "track_parcel",
        "gen_ai.tool.call.arguments": arguments,
        "gen_ai.tool.call.result": result,
    }
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            attributes.pop(name, None)
        else:
            attributes[name] = value
    return attributes


# (what the step tests, its attributes, start ms, end ms, failed, with a hidden HTTP span)
_STEPS: list[tuple[str, dict[str, Any], float, float, bool, bool]] = [
    ("plain chat", _chat(), 1, 5, False, False),
    ("plain tool", _tool(), 6, 8, False, False),
    ("chat ending before it starts", _chat(), 10, 9, False, False),
    ("tool ending before it starts", _tool(), 12, 11, False, False),
    ("chat ending as it starts", _chat(), 13, 13, False, False),
    ("failed chat", _chat(), 14, 15, True, False),
    ("failed tool", _tool(), 16, 17, True, False),
    (
        "chat at the input limit",
        _chat(gen_ai__input__messages=_messages("user", "q" * STEP_INPUT_PREVIEW_MAX)),
        18,
        19,
        False,
        False,
    ),
    (
        "chat past the input limit",
        _chat(gen_ai__input__messages=_messages("user", "q" * (STEP_INPUT_PREVIEW_MAX + 1))),
        20,
        21,
        False,
        False,
    ),
    (
        "chat at the output limit",
        _chat(gen_ai__output__messages=_messages("assistant", "a" * STEP_OUTPUT_PREVIEW_MAX)),
        22,
        23,
        False,
        False,
    ),
    (
        "chat past the output limit",
        _chat(gen_ai__output__messages=_messages("assistant", "a" * (STEP_OUTPUT_PREVIEW_MAX + 1))),
        24,
        25,
        False,
        False,
    ),
    ("chat without a temperature", _chat(gen_ai__request__temperature=None), 26, 27, False, False),
    ("chat without a provider", _chat(gen_ai__provider__name=None), 28, 29, False, False),
    ("chat with an empty provider", _chat(gen_ai__provider__name=""), 30, 31, False, False),
    ("chat without counts", _chat(gen_ai__usage__input_tokens=None), 32, 33, False, False),
    ("chat without a model", _chat(gen_ai__request__model=None), 34, 35, False, False),
    (
        "chat at the model limit",
        _chat(gen_ai__request__model="m" * SHORT_TEXT_MAX),
        36,
        37,
        False,
        False,
    ),
    (
        "chat with a long description",
        _chat(gen_ai__request__model="m" * (SHORT_TEXT_MAX - 3)),
        38,
        39,
        False,
        False,
    ),
    (
        "chat with a long provider",
        _chat(gen_ai__provider__name="p" * (SHORT_TEXT_MAX + 1)),
        40,
        41,
        False,
        False,
    ),
    ("chat without its output", _chat(gen_ai__output__messages=None), 42, 43, False, False),
    ("tool at the input limit", _tool("i" * TOOL_INPUT_SUMMARY_MAX), 44, 45, False, False),
    ("tool past the input limit", _tool("i" * (TOOL_INPUT_SUMMARY_MAX + 1)), 46, 47, False, False),
    ("tool at the output limit", _tool(result="o" * TOOL_OUTPUT_SUMMARY_MAX), 48, 49, False, False),
    (
        "tool past the output limit",
        _tool(result="o" * (TOOL_OUTPUT_SUMMARY_MAX + 1)),
        50,
        51,
        False,
        False,
    ),
    ("tool without a result", _tool(gen_ai__tool__call__result=None), 52, 53, False, False),
    (
        "tool with a long name",
        _tool(gen_ai__tool__name="t" * (SHORT_TEXT_MAX - 4)),
        54,
        55,
        False,
        False,
    ),
    ("tool named by its span", _tool(gen_ai__tool__name=None), 56, 57, False, False),
    ("tool calling over HTTP", _tool(), 58, 61, False, True),
]


def _run(steps: list[tuple[str, dict[str, Any], float, float, bool, bool]]) -> Run:
    built = Trace()
    root = built.start(
        "invoke_agent support",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
        scope="opentelemetry.instrumentation.openai_v2",
    )
    for _what, attributes, at, until, failed, over_http in steps:
        name = (
            "chat gpt-4o-mini"
            if attributes["gen_ai.operation.name"] == "chat"
            else "execute_tool track_parcel"
        )
        span = built.span(
            name,
            attributes,
            parent=root,
            at=at,
            until=None if over_http else until,
            error="boom" if failed else None,
            scope="opentelemetry.instrumentation.openai_v2",
        )
        if over_http:
            built.span(
                "GET",
                {
                    "http.request.method": "GET",
                    "http.response.status_code": 200,
                    "server.address": "hub.example",
                },
                parent=span,
                at=at + 1,
                until=at + 2,
                kind=OtelSpanKind.CLIENT,
            )
            span.end(end_time=span.start_time + int((until - at) * 1_000_000))
    root.end(end_time=root.start_time + 100 * 1_000_000)
    return built.run(root)


def _bytes(payload: dict[str, Any]) -> bytes:
    return encode_payload(payload).body


@pytest.mark.parametrize("capture", [True, False])
@pytest.mark.parametrize("index", range(len(_STEPS)), ids=[step[0] for step in _STEPS])
def test_each_step_converts_as_the_former_conversion(index: int, capture: bool) -> None:
    run = _run([_STEPS[index]])
    payload = convert.convert_run(run, capture_content=capture)
    assert _bytes(payload) == _bytes(reference_convert.convert_run(run, capture_content=capture))
    _what, _attributes, at, until, _failed, _http = _STEPS[index]
    step = payload["steps"][0]
    assert step["duration_ms"] == max(0, int(until - at))
    if "llm_call" in step:
        assert step["llm_call"]["latency_ms"] == step["duration_ms"]


@pytest.mark.parametrize("capture", [True, False])
def test_a_run_of_every_step_converts_as_the_former_conversion(capture: bool) -> None:
    run = _run(_STEPS)
    payload = convert.convert_run(run, capture_content=capture)
    assert _bytes(payload) == _bytes(reference_convert.convert_run(run, capture_content=capture))
    assert len(payload["steps"]) == len(_STEPS)  # the HTTP span is hidden in its tool
    assert payload["steps"][-1]["tool_call"]["http_status"] == 200


def test_the_plain_steps_are_built_by_the_plain_path(monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain chat and tool take the plain path (so the tests above hold it), the others
    the general step."""
    built: list[str] = []
    plain = step_dicts._plain_call_step

    def watched(*args: Any) -> Any:
        step = plain(*args)
        if step is not None:
            built.append(step["description"])
        return step

    monkeypatch.setattr(step_dicts, "_plain_call_step", watched)
    convert.convert_run(_run(_STEPS[:5] + _STEPS[5:7]))
    assert built == [
        "chat gpt-4o-mini",
        "tool track_parcel",
        "chat gpt-4o-mini",
        "tool track_parcel",
        "chat gpt-4o-mini",
    ]


def _facts(span_id: int, parent: int | None, kind: SpanKind, start: int, end: int) -> SpanFacts:
    return SpanFacts(span_id, parent, f"span {span_id}", kind, start, end, False, None, None, None)


def test_steps_starting_together_at_different_depths_are_ordered_by_depth() -> None:
    """A child of one step and a later sibling of that step start in the same instant: the
    shallower comes first, though the spans' own order (start, end, id) puts the child first."""

    def made() -> tuple[SpanFacts, list[SpanFacts]]:
        root = _facts(1, None, SpanKind.AGENT, 0, 20)
        return root, [
            _facts(2, 1, SpanKind.AGENT, 1, 9),  # a step...
            _facts(3, 2, SpanKind.LLM, 5, 6),  # ...its child...
            _facts(4, 1, SpanKind.TOOL, 5, 10),  # ...and a sibling starting with the child
        ]

    root, spans = made()
    tree = build_tree(root, spans)
    assert [(node.facts.span_id, node.depth) for node in tree.steps] == [(2, 1), (4, 1), (3, 2)]
    root, spans = made()
    before = reference_steps.build_tree(root, spans)
    assert [node.facts.span_id for node in before.steps] == [2, 4, 3]


def _odd_facts(kind: SpanKind, **values: Any) -> SpanFacts:
    facts = SpanFacts(7, None, "call", kind, 1_000_000, 5_000_000, False, None, "scope", None)
    if kind is SpanKind.LLM:
        facts.operation, facts.model, facts.provider = "chat", "gpt", "openai"
        facts.input_tokens, facts.output_tokens, facts.temperature = 3, 4, 0.5
        facts.input_text, facts.output_text = "asked", "answered"
    else:
        facts.tool_name, facts.tool_arguments, facts.tool_result = "track", "{}", "ok"
    for name, value in values.items():
        setattr(facts, name, value)
    return facts


_ODD_FACTS: list[tuple[SpanKind, dict[str, Any]]] = [
    (SpanKind.LLM, {}),
    (SpanKind.LLM, {"provider": ""}),
    (SpanKind.LLM, {"operation": ""}),
    (SpanKind.LLM, {"operation": None}),
    (SpanKind.LLM, {"model": ""}),
    (SpanKind.LLM, {"model": "m" * (SHORT_TEXT_MAX + 1)}),
    (SpanKind.LLM, {"temperature": float("nan")}),
    (SpanKind.LLM, {"temperature": float("inf")}),
    (SpanKind.LLM, {"temperature": float("-inf")}),
    (SpanKind.LLM, {"temperature": 1}),
    (SpanKind.LLM, {"input_tokens": 3.0}),
    (SpanKind.LLM, {"output_tokens": True}),
    (SpanKind.LLM, {"input_text": ""}),
    (SpanKind.LLM, {"output_text": b"answered"}),
    (SpanKind.LLM, {"start": 1_000_000.0}),
    (SpanKind.LLM, {"end": float("nan")}),
    (SpanKind.TOOL, {"end": float("inf")}),
    (SpanKind.LLM, {"end": None}),
    (SpanKind.LLM, {"end": 0}),
    (SpanKind.LLM, {"scope_name": None}),
    (SpanKind.TOOL, {}),
    (SpanKind.TOOL, {"tool_name": None}),
    (SpanKind.TOOL, {"tool_name": ""}),
    (SpanKind.TOOL, {"tool_arguments": ""}),
    (SpanKind.TOOL, {"tool_result": ""}),
    (SpanKind.TOOL, {"tool_result": None}),
    (SpanKind.TOOL, {"http_status": 404}),
    (SpanKind.TOOL, {"end": -5_000_000}),
    (SpanKind.TOOL, {"scope_name": None}),
]


@pytest.mark.parametrize(("kind", "values"), _ODD_FACTS, ids=[str(v) for _, v in _ODD_FACTS])
@pytest.mark.parametrize("counted", [True, False])
def test_steps_of_odd_values_are_the_former_steps(
    kind: SpanKind, values: dict[str, Any], counted: bool
) -> None:
    """Values no reader gives today (empty or odd texts, non-finite temperatures, float
    counts and times) leave the plain path where the former step shows them otherwise."""

    def step(build: Any) -> Any:
        facts = _odd_facts(kind, **values)
        node = build_tree(facts, []).steps[0]  # a call at the root is its own step
        return build(node, {7} if counted else set(), {})

    assert json.dumps(step(step_dicts.step_dict)) == json.dumps(step(reference_convert._step))
