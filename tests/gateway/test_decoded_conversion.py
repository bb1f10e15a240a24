"""Runs decoded by the gateway convert as the same runs' SDK spans do.

Each run is made by the real SDK, encoded by the official OTLP encoder, parsed and
decoded by the gateway (``wire.new_request`` + ``decode_request``), then converted.
Conversion's fast reading of the commonest spans (``conventions/common.py``) must
take the decoded spans it takes from the SDK, and give the bytes the general
reader gives.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Status, StatusCode, Tracer

from infinium_otel.conventions.common import read_common
from infinium_otel.gateway.decode import Decoded, DecodeLimits, decode_request
from infinium_otel.gateway.wire import new_request
from infinium_otel.payload import convert
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

MS = 1_000_000
BASE = 1_700_000_000_000_000_000


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _chat(step: int, **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{step}",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.request.temperature": 0.2,
        "gen_ai.usage.input_tokens": 400 + step,
        "gen_ai.usage.output_tokens": 90,
        "server.address": "api.openai.com",
        "server.port": 443,
        "gen_ai.input.messages": _messages("user", f"Where is parcel {step}?"),
        "gen_ai.output.messages": _messages("assistant", f"Parcel {step} is in Lyon."),
        **extra,
    }


def _tool(step: int, **extra: Any) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "track_parcel",
        "gen_ai.tool.call.id": f"call_{step}",
        "gen_ai.tool.call.arguments": json.dumps({"parcel": step}),
        "gen_ai.tool.call.result": json.dumps({"hub": "Lyon", "step": step}),
        **extra,
    }


def _history(rounds: int) -> str:
    turns: list[dict[str, Any]] = [
        {"role": "system", "parts": [{"type": "text", "content": "Track parcels. " * 5}]},
        {"role": "user", "parts": [{"type": "text", "content": "Where is parcel 7?"}]},
    ]
    for round_ in range(rounds):
        turns.append(
            {
                "role": "assistant",
                "parts": [
                    {
                        "type": "tool_call",
                        "id": f"c{round_}",
                        "name": "track_parcel",
                        "arguments": {"parcel": 7, "step": round_},
                    }
                ],
            }
        )
        turns.append(
            {
                "role": "tool",
                "parts": [
                    {"type": "tool_call_response", "id": f"c{round_}", "response": {"hub": "Lyon"}}
                ],
            }
        )
    return json.dumps(turns)


def _tool_call_output(step: int) -> str:
    part = {"type": "tool_call", "id": f"call_{step}", "name": "track_parcel"}
    return json.dumps([{"role": "assistant", "parts": [{**part, "arguments": {"parcel": step}}]}])


Child = Callable[[Tracer, int], None]


def _span(name: str, attributes: dict[str, Any]) -> Child:
    def make(tracer: Tracer, at: int) -> None:
        with tracer.start_as_current_span(
            name, attributes=attributes, start_time=BASE + at * MS, end_on_exit=False
        ) as span:
            span.end(end_time=BASE + (at + 1) * MS)

    return make


def _failing(name: str, attributes: dict[str, Any]) -> Child:
    def make(tracer: Tracer, at: int) -> None:
        span = tracer.start_span(name, attributes=attributes, start_time=BASE + at * MS)
        span.record_exception(TimeoutError("the carrier did not answer"), timestamp=BASE + at * MS)
        span.set_status(Status(StatusCode.ERROR, "timed out"))
        span.end(end_time=BASE + (at + 1) * MS)

    return make


def _run(children: list[Child]) -> list[ReadableSpan]:
    """An agent run made by the SDK: its root and ``children``, all ended."""
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("shop.agent", "1.0")
    root_attributes = {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support",
        "gen_ai.provider.name": "openai",
        "gen_ai.conversation.id": "conversation-1",
    }
    root = tracer.start_span("invoke_agent support", attributes=root_attributes, start_time=BASE)
    with trace.use_span(root, end_on_exit=False):
        for index, child in enumerate(children):
            child(tracer, 2 * index + 1)
    root.end(end_time=BASE + (2 * len(children) + 2) * MS)
    provider.shutdown()
    return list(exporter.get_finished_spans())


def _decode(spans: list[ReadableSpan], limits: DecodeLimits | None = None) -> Decoded:
    request = new_request()
    request.ParseFromString(encode_spans(spans).SerializeToString())
    decoded = decode_request(request, limits or DecodeLimits())
    assert decoded.rejected == 0
    return decoded


def _as_run(spans: list[ReadableSpan]) -> Run:
    root = next(span for span in spans if span.parent is None)
    return Run(root, tuple(spans))


def _payload(run: Run) -> bytes:
    return encode_payload(convert.convert_run(run, capture_content=True)).body


def _general_only() -> Iterator[None]:
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(convert, "read_common", lambda span, capture_content=True: None)
        yield


def _general_payload(run: Run) -> bytes:
    for _ in _general_only():
        return _payload(run)
    raise AssertionError("unreachable")


SHAPES: dict[str, list[Child]] = {
    "simple": [_span("chat gpt", _chat(1)), _span("execute_tool track", _tool(2))],
    "history": [
        _span("chat gpt", _chat(1, **{"gen_ai.input.messages": _history(1)})),
        _span("chat gpt", _chat(2, **{"gen_ai.input.messages": _history(6)})),
    ],
    "tool calls": [
        _span("chat gpt", _chat(1, **{"gen_ai.output.messages": _tool_call_output(1)})),
        _span("execute_tool track", _tool(1)),
        _span("chat gpt", _chat(2)),
    ],
    "errors with events": [
        _failing("chat gpt", _chat(1)),
        _failing("execute_tool track", _tool(2, **{"error.type": "TimeoutError"})),
        _span("chat gpt", _chat(3)),
    ],
    "odd types": [
        _span(
            "chat gpt",
            _chat(
                1,
                **{
                    "gen_ai.usage.input_tokens": 2**40,
                    "gen_ai.request.temperature": 1,
                    "gen_ai.request.stop_sequences": ("\n", "END"),
                    "gen_ai.request.seed": True,
                    "app.scores": (0.5, 1.5),
                    "app.flags": (True, False),
                    "app.counts": (1, 2, 3),
                    "app.empty": "",
                },
            ),
        ),
        _span("execute_tool track", _tool(2, **{"gen_ai.tool.call.result": 42})),
    ],
}

# The shapes whose spans, but for the root and the failing ones, the fast reading takes.
FAST = {"simple": 3, "history": 3, "tool calls": 4, "errors with events": 2}


@pytest.mark.parametrize("shape", sorted(SHAPES))
def test_a_decoded_run_converts_to_the_bytes_of_its_sdk_spans(shape: str) -> None:
    sdk_spans = _run(SHAPES[shape])
    decoded = _decode(sdk_spans)
    assert len(decoded.spans) == len(sdk_spans)
    sdk_run, decoded_run = _as_run(sdk_spans), _as_run(decoded.spans)
    sdk_bytes = _payload(sdk_run)
    decoded_bytes = _payload(decoded_run)
    assert decoded_bytes == sdk_bytes
    assert _general_payload(decoded_run) == decoded_bytes
    # The fast reading takes a decoded span exactly when it takes the SDK's.
    taken = {span.context.span_id for span in sdk_spans if read_common(span) is not None}
    taken_decoded = {
        span.context.span_id for span in decoded.spans if read_common(span) is not None
    }
    assert taken_decoded == taken
    if shape in FAST:
        assert len(taken_decoded) == FAST[shape]


def test_decoded_spans_with_events_are_read_by_the_general_reader() -> None:
    decoded = _decode(_run(SHAPES["errors with events"]))
    failing = [span for span in decoded.spans if span.events]
    assert len(failing) == 2
    assert all(read_common(span) is None for span in failing)
    payload = json.loads(_payload(_as_run(decoded.spans)))
    assert "the carrier did not answer" in json.dumps(payload)


def test_values_cut_by_the_decoder_read_the_same_fast_and_general() -> None:
    long_answer = "Parcel 7 is in Lyon. " * 400  # 8,400 characters
    children = [
        _span(
            "chat gpt", _chat(1, **{"gen_ai.output.messages": _messages("assistant", long_answer)})
        ),
        _span("execute_tool track", _tool(2, **{"gen_ai.tool.call.result": "x" * 5000})),
    ]
    sdk_spans = _run(children)
    decoded = _decode(sdk_spans, DecodeLimits(max_value_chars=1000))
    assert decoded.values_cut == 2
    tool = next(span for span in decoded.spans if span.name == "execute_tool track")
    assert tool.attributes is not None
    assert tool.attributes["gen_ai.tool.call.result"] == "x" * 1000
    run = _as_run(decoded.spans)
    assert all(read_common(span) is not None for span in decoded.spans)
    fast_bytes = _payload(run)
    assert fast_bytes == _general_payload(run)
    assert fast_bytes != _payload(_as_run(sdk_spans))  # the cut values are what differs
