"""Runs for the run-view tests: one made by the real SDK pipeline, and hand-built payloads.

``record_nested_run`` drives a real ``TracerProvider`` with the ``InfiniumSpanExporter``
behind a ``SimpleSpanProcessor``, delivering over loopback to a sandbox. Spans get
explicit start and end times so every step's duration is known to the millisecond.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import Status, StatusCode

from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.sandbox import Sandbox
from infinium_otel.sandbox.store import StoredTrace

from .support import MINIMAL_PAYLOAD

MS = 1_000_000

# (name, start ms, end ms): what record_nested_run lays out; steps come in start order.
NESTED_STEPS = {
    "plan": (0, 800),
    "search_flights": (800, 1200),
    "booking-agent": (1200, 2600),
    "quote": (1200, 1500),
    "book_seat": (1500, 1600),
    "confirm": (1600, 2600),
}
NESTED_RUN_MS = 3000


def _chat(model: str, tokens_in: int, tokens_out: int, prompt: str, answer: str) -> dict[str, Any]:
    return {
        "gen_ai.operation.name": "chat",
        "gen_ai.provider.name": "openai",
        "gen_ai.request.model": model,
        "gen_ai.response.model": model,
        "gen_ai.usage.input_tokens": tokens_in,
        "gen_ai.usage.output_tokens": tokens_out,
        "infinium.input_summary": prompt,
        "infinium.output_summary": answer,
    }


def _tool(name: str) -> dict[str, Any]:
    return {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": name}


def _fail_booking(seat: str) -> None:
    raise ConnectionError(f"seat service refused {seat}")


def record_nested_run(sandbox: Sandbox, name: str = "trip-planner") -> StoredTrace:
    """One agent run with LLM calls, tools, a sub-agent and a failed tool, sent for real."""
    exporter = InfiniumSpanExporter(
        agent_id=sandbox.agent_id,
        agent_secret=sandbox.agent_secret,
        base_url=sandbox.url,
        timeout=5.0,
        max_retries=0,
        interpretation=False,
    )
    provider = TracerProvider()
    attach_tracker(provider)
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    tracer = provider.get_tracer("tests.run_view")
    t0 = time.time_ns() - 10_000 * MS
    before = len(sandbox.traces())

    def at(ms: int) -> int:
        return t0 + ms * MS

    agent = {"gen_ai.operation.name": "invoke_agent"}
    root = tracer.start_span(
        name, start_time=at(0), attributes={**agent, "gen_ai.agent.name": name}
    )
    with trace.use_span(root, end_on_exit=False):
        start, end = NESTED_STEPS["plan"]
        tracer.start_span(
            "chat gpt-4o",
            start_time=at(start),
            attributes=_chat("gpt-4o", 120, 30, "Plan a trip to Lisbon", "Search, then book."),
        ).end(end_time=at(end))
        start, end = NESTED_STEPS["search_flights"]
        tracer.start_span(
            "execute_tool search_flights",
            start_time=at(start),
            attributes={
                "gen_ai.operation.name": "execute_tool",
                "gen_ai.tool.name": "search_flights",
            },
        ).end(end_time=at(end))
        start, end = NESTED_STEPS["booking-agent"]
        sub = tracer.start_span(
            "invoke_agent booking-agent",
            start_time=at(start),
            attributes={**agent, "gen_ai.agent.name": "booking-agent"},
        )
        with trace.use_span(sub, end_on_exit=False):
            q_start, q_end = NESTED_STEPS["quote"]
            tracer.start_span(
                "chat gpt-4o-mini",
                start_time=at(q_start),
                attributes=_chat("gpt-4o-mini", 60, 20, "Quote IO 204", "129 EUR"),
            ).end(end_time=at(q_end))
            b_start, b_end = NESTED_STEPS["book_seat"]
            failed = tracer.start_span(
                "execute_tool book_seat",
                start_time=at(b_start),
                attributes={
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "book_seat",
                },
            )
            try:
                _fail_booking("12A")
            except ConnectionError as exc:
                failed.record_exception(exc)
                failed.set_status(Status(StatusCode.ERROR, str(exc)))
            failed.end(end_time=at(b_end))
            c_start, c_end = NESTED_STEPS["confirm"]
            tracer.start_span(
                "chat gpt-4o-mini",
                start_time=at(c_start),
                attributes=_chat("gpt-4o-mini", 80, 40, "Book 12B instead", "Booked 12B."),
            ).end(end_time=at(c_end))
        sub.end(end_time=at(end))
    root.end(end_time=at(NESTED_RUN_MS))
    provider.shutdown()
    return sandbox.wait_for_traces(before + 1, timeout=10)[-1]


def steps_payload(durations_ms: list[int], **changes: Any) -> dict[str, Any]:
    """A valid payload with one top-level step per duration, alternating LLM and tool."""
    steps = []
    for index, duration in enumerate(durations_ms, start=1):
        step: dict[str, Any] = {
            "step_number": index,
            "action": "llm_call" if index % 2 else "tool_use",
            "description": f"step {index}",
            "duration_ms": duration,
            "metadata": {"depth": 1},
        }
        if index % 2:
            step["llm_call"] = {"model": "gpt-test", "prompt_tokens": 10, "completion_tokens": 5}
        else:
            step["tool_call"] = {"tool_name": f"tool_{index}", "duration_ms": duration}
        steps.append(step)
    payload = copy.deepcopy(MINIMAL_PAYLOAD)
    payload["duration"] = sum(durations_ms) / 1000
    payload["steps"] = steps
    payload.update(changes)
    return payload
