"""Errors from statuses and exception events; content capture off leaks no text."""

from __future__ import annotations

import json

import pytest
from opentelemetry.trace import SpanKind

from infinium_otel.payload.convert import convert_run

from .builder import MS, Trace
from .checks import check_payload

AGENT = {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "agent"}
TOOL = {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "fetch"}


def _raise_in_tool(t: Trace, *, propagate: bool) -> None:
    tracer = t.provider.get_tracer("test.app")
    try:
        with tracer.start_as_current_span("invoke_agent agent", attributes=AGENT):
            try:
                with tracer.start_as_current_span("execute_tool fetch", attributes=TOOL):
                    raise ConnectionError("upstream 10.0.0.1 refused")
            except ConnectionError:
                if propagate:
                    raise
    except ConnectionError:
        pass


def _root(t: Trace) -> object:
    return next(s for s in t.finished() if s.parent is None)


@pytest.mark.parametrize("propagate", [False, True])
def test_exception_reported_once_and_recoverable_when_root_succeeds(propagate: bool) -> None:
    t = Trace()
    _raise_in_tool(t, propagate=propagate)
    spans = t.finished()
    root = next(s for s in spans if s.parent is None)
    from infinium_otel.payload.run import Run

    payload = check_payload(convert_run(Run(root, spans)))
    (error,) = payload["errors"]
    assert error["error_type"] == "ConnectionError"
    assert error["message"] == "upstream 10.0.0.1 refused"
    assert error["recoverable"] is (not propagate)
    assert error["retry_count"] == 0
    assert error["stack_trace"].startswith("Traceback (most recent call last):")
    assert len(error["stack_trace"]) <= 1000
    (step,) = payload["steps"]
    assert step["error"] == error
    assert step["tool_call"]["error"] == error
    assert ("the run failed" in payload["description"]) is propagate


def test_status_only_errors_take_type_from_description_or_error_type() -> None:
    t = Trace()
    root = t.start("invoke_agent agent", AGENT)
    t.span("slow", {}, parent=root, at=1, until=2, error="TimeoutError: took 30 s")
    t.span("bad", {"error.type": "rate_limited"}, parent=root, at=3, until=4, error="try later")
    t.span("vague", {}, parent=root, at=5, until=6, error=None, exception=None)
    t.span("plain", {}, parent=root, at=7, until=8, error="")
    root.end(end_time=root.start_time + 10 * MS)
    payload = check_payload(convert_run(t.run(root)))
    assert [(e["error_type"], e["message"], e["recoverable"]) for e in payload["errors"]] == [
        ("TimeoutError", "TimeoutError: took 30 s", True),
        ("rate_limited", "try later", True),
        ("Error", "Error", True),
    ]
    assert [("error" in s) for s in payload["steps"]] == [True, True, False, True]


SECRET = "SECRET-PROMPT-42"


def _content_everywhere(t: Trace) -> object:
    root = t.start(
        "invoke_agent agent",
        {
            **AGENT,
            "gen_ai.input.messages": json.dumps([{"role": "user", "content": SECRET}]),
            "infinium.input_summary": SECRET,
            "infinium.output_summary": SECRET,
            "traceloop.entity.input": SECRET,
            "input.value": SECRET,
        },
    )
    t.span(
        "chat",
        {
            "gen_ai.operation.name": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.usage.input_tokens": 5,
            "gen_ai.usage.output_tokens": 6,
            "gen_ai.system_instructions": json.dumps([{"type": "text", "content": SECRET}]),
            "gen_ai.input.messages": json.dumps(
                [{"role": "user", "parts": [{"type": "text", "content": SECRET}]}]
            ),
            "gen_ai.output.messages": json.dumps(
                [{"role": "assistant", "parts": [{"type": "text", "content": SECRET}]}]
            ),
        },
        parent=root,
        at=1,
        until=2,
        events=[
            ("gen_ai.user.message", {"content": SECRET}),
            ("gen_ai.choice", {"message": SECRET}),
        ],
    )
    t.span(
        "ChatCompletion",
        {
            "openinference.span.kind": "LLM",
            "llm.model_name": "gpt-4o",
            "llm.input_messages.0.message.role": "user",
            "llm.input_messages.0.message.content": SECRET,
            "llm.output_messages.0.message.content": SECRET,
            "input.value": SECRET,
            "output.value": SECRET,
        },
        parent=root,
        at=3,
        until=4,
    )
    t.span(
        "openai.chat",
        {
            "llm.request.type": "chat",
            "gen_ai.request.model": "gpt-4o",
            "gen_ai.prompt.0.content": SECRET,
            "gen_ai.completion.0.content": SECRET,
        },
        parent=root,
        at=5,
        until=6,
    )
    t.span(
        "execute_tool fetch",
        {**TOOL, "gen_ai.tool.call.arguments": SECRET, "gen_ai.tool.call.result": SECRET},
        parent=root,
        at=7,
        until=8,
        exception=ValueError(SECRET),
    )
    t.span(
        "tool2",
        {"openinference.span.kind": "TOOL", "tool.name": "t2", "input.value": SECRET},
        parent=root,
        at=9,
        until=10,
        error=f"KeyError: {SECRET}",
    )
    t.span(
        "task",
        {"traceloop.span.kind": "task", "traceloop.entity.output": SECRET},
        parent=root,
        at=11,
        until=12,
    )
    root.end(end_time=root.start_time + 20 * MS)
    return root


def test_capture_off_sends_structure_but_no_text() -> None:
    t = Trace()
    root = _content_everywhere(t)
    payload = check_payload(convert_run(t.run(root), capture_content=False))  # type: ignore[arg-type]
    body = json.dumps(payload)
    assert SECRET not in body
    assert "SECRET" not in body
    assert len(payload["steps"]) == 6
    assert payload["llm_usage"]["prompt_tokens"] == 5
    assert payload["llm_usage"]["api_calls_count"] == 3
    assert {e["error_type"]: e["message"] for e in payload["errors"]} == {
        "ValueError": "ValueError",
        "KeyError": "KeyError",
    }
    assert not any("input_preview" in s or "output_preview" in s for s in payload["steps"])
    assert "input_summary" not in payload and "output_summary" not in payload


def test_capture_on_reads_the_same_run_fully() -> None:
    t = Trace()
    root = _content_everywhere(t)
    payload = check_payload(convert_run(t.run(root)))  # type: ignore[arg-type]
    assert payload["input_summary"] == SECRET
    assert all(SECRET in s.get("input_preview", SECRET) for s in payload["steps"])
    assert sum(SECRET in s.get("output_preview", "") for s in payload["steps"]) == 5


def test_capture_off_keeps_only_frame_lines_of_stack_traces() -> None:
    t = Trace()
    tracer = t.provider.get_tracer("test.app")
    with tracer.start_as_current_span("invoke_agent agent", attributes=AGENT):
        try:
            with tracer.start_as_current_span("work", kind=SpanKind.INTERNAL):
                raise RuntimeError(SECRET)
        except RuntimeError:
            pass
    spans = t.finished()
    from infinium_otel.payload.run import Run

    root = next(s for s in spans if s.parent is None)
    payload = check_payload(convert_run(Run(root, spans), capture_content=False))
    (error,) = payload["errors"]
    assert SECRET not in json.dumps(payload)
    assert error["message"] == "RuntimeError"
    assert error["stack_trace"].startswith('File "')
    assert all(line.startswith('File "') for line in error["stack_trace"].splitlines())
