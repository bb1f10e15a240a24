"""Agent runs the benchmarks feed to the exporters: real SDK spans with GenAI attributes.

Shapes:
- ``simple``: the export benchmark's run: a root, then chat and tool calls alternating,
  each chat span with one user and one assistant message.
- ``history``: a realistic agent loop: a root, then chat and tool calls alternating;
  each chat span carries the whole conversation so far in ``gen_ai.input.messages``
  (system prompt, user question, then an assistant tool call and a tool result per
  round), as the current GenAI conventions write it, kept to the last ``history``
  messages.
- ``fixed_history``: as ``history``, but every chat span carries ``history`` messages.
- ``calls``: a root and ``n`` chat calls with long messages, big enough to need fitting.
"""

from __future__ import annotations

import json
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from infinium_otel.payload.run import Run

__all__ = ["as_runs", "emit", "emit_run", "prebuilt"]


def _messages(role: str, text: str) -> str:
    return json.dumps([{"role": role, "parts": [{"type": "text", "content": text}]}])


def _chat_attributes(index: int, step: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": "gpt-4o-mini",
        "gen_ai.response.model": "gpt-4o-mini-2024-07-18",
        "gen_ai.response.id": f"chatcmpl-{index}-{step}",
        "gen_ai.response.finish_reasons": ("stop",),
        "gen_ai.request.temperature": 0.2,
        "gen_ai.usage.input_tokens": 420 + step,
        "gen_ai.usage.output_tokens": 96,
        "server.address": "api.openai.com",
        "server.port": 443,
    }


def _tool_attributes(index: int, step: int) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "track_parcel",
        "gen_ai.tool.call.id": f"call_{index}_{step}",
        "gen_ai.tool.call.arguments": json.dumps({"parcel": index * 7, "step": step}),
        "gen_ai.tool.call.result": json.dumps(
            {"status": "in transit", "hub": "Lyon", "eta": "Tuesday", "step": step}
        ),
    }


def _history(index: int, rounds: int, limit: int) -> list[dict[str, Any]]:
    """The conversation before a chat call: system, user, then (tool call, tool result) rounds."""
    messages: list[dict[str, Any]] = [
        {
            "role": "system",
            "parts": [{"type": "text", "content": "You are a parcel-tracking assistant. " * 6}],
        },
        {
            "role": "user",
            "parts": [
                {"type": "text", "content": f"Where is parcel {index * 7}? It was due Monday. " * 3}
            ],
        },
    ]
    for round_ in range(rounds):
        call_id = f"call_{index}_{round_}"
        messages.append(
            {
                "role": "assistant",
                "parts": [
                    {
                        "type": "tool_call",
                        "id": call_id,
                        "name": "track_parcel",
                        "arguments": {"parcel": index * 7, "step": round_},
                    }
                ],
            }
        )
        messages.append(
            {
                "role": "tool",
                "parts": [
                    {
                        "type": "tool_call_response",
                        "id": call_id,
                        "response": {"status": "in transit", "hub": "Lyon", "step": round_},
                    }
                ],
            }
        )
    return messages[-limit:] if limit > 0 else messages


def emit_run(
    tracer: Tracer, index: int, spans_per_run: int, shape: str = "simple", history: int = 20
) -> None:
    """One agent run of ``spans_per_run`` spans (root included) in the given shape."""
    question = f"Customer {index} asks where parcel {index * 7} is. " * 8
    answer = f"Parcel {index * 7} left the Lyon hub this morning and arrives Tuesday. " * 5
    with tracer.start_as_current_span(
        f"invoke_agent support-{index % 10}",
        attributes={
            "gen_ai.operation.name": "invoke_agent",
            "gen_ai.agent.name": f"support-{index}",
            "gen_ai.provider.name": "openai",
        },
    ):
        for step in range(spans_per_run - 1):
            if shape == "calls" or step % 2 == 0:
                attributes = _chat_attributes(index, step)
                if shape in ("history", "fixed_history"):
                    # "history": the conversation grows by a round per call, kept to the
                    # last ``history`` messages; "fixed_history": always ``history`` messages.
                    rounds = step // 2 if shape == "history" else history // 2
                    messages = _history(index, rounds, history)
                    attributes["gen_ai.input.messages"] = json.dumps(messages)
                    last = step + 2 >= spans_per_run - 1
                    if last:
                        text = {"type": "text", "content": answer}
                        out = [{"role": "assistant", "parts": [text]}]
                    else:
                        out = [
                            {
                                "role": "assistant",
                                "parts": [
                                    {
                                        "type": "tool_call",
                                        "id": f"call_{index}_{step}",
                                        "name": "track_parcel",
                                        "arguments": {"parcel": index * 7, "step": step},
                                    }
                                ],
                                "finish_reason": "tool_call",
                            }
                        ]
                    attributes["gen_ai.output.messages"] = json.dumps(out)
                elif shape == "calls":
                    attributes["gen_ai.input.messages"] = _messages("user", f"{step} " + question)
                    attributes["gen_ai.output.messages"] = _messages("assistant", answer)
                else:
                    attributes["gen_ai.input.messages"] = _messages("user", question)
                    attributes["gen_ai.output.messages"] = _messages("assistant", answer)
                with tracer.start_as_current_span("chat gpt-4o-mini", attributes=attributes):
                    pass
            else:
                with tracer.start_as_current_span(
                    "execute_tool track_parcel", attributes=_tool_attributes(index, step)
                ):
                    pass


def emit(tracer: Tracer, runs: int, spans_per_run: int, shape: str, history: int = 20) -> None:
    for index in range(runs):
        emit_run(tracer, index, spans_per_run, shape, history)


def prebuilt(
    runs: int, spans_per_run: int, shape: str = "simple", history: int = 20
) -> list[ReadableSpan]:
    """Finished spans of ``runs`` runs, made once by the real SDK."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": "export-benchmark"}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    emit(provider.get_tracer("benchmark.agent"), runs, spans_per_run, shape, history)
    spans = list(memory.get_finished_spans())
    provider.shutdown()
    return spans


def as_runs(spans: list[ReadableSpan]) -> list[Run]:
    """The finished spans grouped into runs (root last in each trace, as the SDK ends them)."""
    by_trace: dict[int, list[ReadableSpan]] = {}
    for span in spans:
        assert span.context is not None
        by_trace.setdefault(span.context.trace_id, []).append(span)
    runs = []
    for members in by_trace.values():
        root = next(s for s in members if s.parent is None)
        runs.append(Run(root=root, spans=tuple(members)))
    return runs
