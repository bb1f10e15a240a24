"""validate_trace_payload against tables of valid and invalid payloads."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from infinium_otel.contract import MAX_PAYLOAD_BYTES
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, validate_trace_payload
from infinium_otel.sandbox.validation import encoded_size

from .support import MINIMAL_PAYLOAD, RICH_PAYLOAD, payload


def _with(path: str, value: Any, base: dict[str, Any] | None = None) -> dict[str, Any]:
    """Copy of ``base`` (the rich payload) with a dotted path set; ``...`` removes it."""
    result = copy.deepcopy(RICH_PAYLOAD if base is None else base)
    target: Any = result
    *parents, last = path.split(".")
    for part in parents:
        target = target[int(part)] if isinstance(target, list) else target.setdefault(part, {})
    key: Any = int(last) if isinstance(target, list) else last
    if value is ...:
        del target[key]
    else:
        target[key] = value
    return result


VALID: dict[str, dict[str, Any]] = {
    "minimal": MINIMAL_PAYLOAD,
    "rich": RICH_PAYLOAD,
    "integer duration": _with("duration", 3, MINIMAL_PAYLOAD),
    "zero duration": _with("duration", 0.0, MINIMAL_PAYLOAD),
    "a full day": _with("duration", 86_400, MINIMAL_PAYLOAD),
    "no fraction in datetime": _with("current_datetime", "2025-01-31T12:00:00Z"),
    "microseconds in datetime": _with("current_datetime", "2025-01-31T12:00:00.123456Z"),
    "name at the cap": _with("name", "n" * 500),
    "description at the cap": _with("description", "d" * 10_000),
    "input summary at the cap": _with("input_summary", "i" * 3_000),
    "output summary at the cap": _with("output_summary", "o" * 8_000),
    "step previews at the caps": _with(
        "steps.0",
        {**RICH_PAYLOAD["steps"][0], "input_preview": "a" * 500, "output_preview": "b" * 1_500},
    ),
    "tool summaries at the caps": _with(
        "steps.1.tool_call",
        {"tool_name": "t", "input_summary": "a" * 300, "output_summary": "b" * 1_500},
    ),
    "stack trace at the cap": _with(
        "errors.0", {"error_type": "E", "message": "m", "stack_trace": "s" * 1_000}
    ),
    "multiple providers": _with("llm_usage.provider", "multiple"),
    "every section": _with(
        "sections",
        {
            "customer": {"customer_name": "Ada", "client_industry": "banking"},
            "support": {"priority": "high", "follow_up_required": False},
            "sales": {"deal_value": 1200.5},
            "marketing": {"campaign_name": "spring"},
            "content": {"content_length": 900},
            "research": {"data_sources": "web", "key_findings": ["a"]},
            "project": {"stakeholders": ["a", "b"], "resource_utilization": 0.5},
            "development": {"performance_metrics": {"p95_ms": 120}, "tests_run": 3},
            "executive": {"attendees_count": 4, "action_items": "follow up"},
            "general": {
                "warnings": ["w"],
                "errors_encountered": [{"error_type": "E", "message": "m"}],
            },
            "time_tracking": {"start_time": "2025-01-31T11:00:00+00:00"},
        },
    ),
    "prompt studio": _with(
        "prompt_studio",
        {
            "prompts_used": [
                {
                    "prompt_id": "p1",
                    "prompt_name": "greet",
                    "version": 2,
                    "source": "prompt_studio",
                    "fetched_at": "2025-01-31T11:00:00Z",
                }
            ]
        },
    ),
    "non-ascii text": _with("output_summary", "Grüße, 世界 ✓"),
}

INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "missing name": (_with("name", ...), "name: required"),
    "missing description": (_with("description", ...), "description: required"),
    "missing datetime": (_with("current_datetime", ...), "current_datetime: required"),
    "missing duration": (_with("duration", ...), "duration: required"),
    "name not a string": (_with("name", 7), "name: must be a string"),
    "name too long": (_with("name", "n" * 501), "name: 501 characters, over the cap of 500"),
    "description too long": (_with("description", "d" * 10_001), "description: 10001"),
    "datetime without Z": (_with("current_datetime", "2025-01-31T12:00:00"), "ISO 8601 UTC"),
    "datetime with offset": (
        _with("current_datetime", "2025-01-31T12:00:00+02:00"),
        "current_datetime:",
    ),
    "impossible date": (_with("current_datetime", "2025-02-30T12:00:00Z"), "not a real date"),
    "negative duration": (_with("duration", -0.5), "duration: must be >= 0"),
    "duration over a day": (_with("duration", 86_400.5), "duration: must be <= 86400"),
    "infinite duration": (_with("duration", float("inf")), "duration: must be a finite"),
    "boolean duration": (_with("duration", True), "duration: must be a number"),
    "string duration": (_with("duration", "2"), "duration: must be a number"),
    "unknown top-level key": (_with("trace_id", "x"), "trace_id: unknown field"),
    "null optional": (_with("input_summary", None), "input_summary: null"),
    "empty list": (_with("errors", []), "errors: empty list"),
    "empty object": (_with("environment", {}), "environment: empty object"),
    "input summary too long": (_with("input_summary", "i" * 3_001), "input_summary: 3001"),
    "output summary too long": (_with("output_summary", "o" * 8_001), "output_summary: 8001"),
    "step number zero": (_with("steps.0.step_number", 0), "steps[0].step_number: must be >= 1"),
    "step number a float": (_with("steps.0.step_number", 1.0), "steps[0].step_number: must be"),
    "step numbers out of order": (_with("steps.1.step_number", 1), "step_number values must"),
    "step without action": (_with("steps.0.action", ...), "steps[0].action: required"),
    "step without description": (_with("steps.1.description", ...), "steps[1].description"),
    "step input preview too long": (_with("steps.0.input_preview", "a" * 501), "input_preview"),
    "step output preview too long": (
        _with("steps.0.output_preview", "a" * 1_501),
        "steps[0].output_preview: 1501",
    ),
    "step unknown field": (_with("steps.0.span_id", "x"), "steps[0].span_id: unknown field"),
    "tool call without name": (
        _with("steps.1.tool_call.tool_name", ...),
        "steps[1].tool_call.tool_name: required",
    ),
    "tool input summary too long": (
        _with("steps.1.tool_call.input_summary", "a" * 301),
        "tool_call.input_summary: 301",
    ),
    "tool output summary too long": (
        _with("steps.1.tool_call.output_summary", "a" * 1_501),
        "tool_call.output_summary: 1501",
    ),
    "llm call without model": (
        _with("steps.0.llm_call.model", ...),
        "steps[0].llm_call.model: required",
    ),
    "negative tokens": (
        _with("steps.0.llm_call.prompt_tokens", -1),
        "llm_call.prompt_tokens: must be >= 0",
    ),
    "error without type": (_with("errors.0.error_type", ...), "errors[0].error_type: required"),
    "error without message": (_with("steps.1.error.message", ...), "error.message: required"),
    "stack trace too long": (_with("errors.0.stack_trace", "s" * 1_001), "stack_trace: 1001"),
    "recoverable not a boolean": (_with("errors.0.recoverable", "yes"), "true or false"),
    "objective missing": (
        _with("expected_outcome.task_objective", ...),
        "expected_outcome.task_objective: required",
    ),
    "criteria not strings": (
        _with("expected_outcome.acceptance_criteria", [1]),
        "acceptance_criteria[0]: must be a string",
    ),
    "negative total tokens": (_with("llm_usage.total_tokens", -5), "total_tokens: must be >= 0"),
    "negative cost": (_with("llm_usage.estimated_cost_usd", -0.01), "estimated_cost_usd"),
    "usage call without model": (_with("llm_usage.calls", [{"provider": "x"}]), "model: required"),
    "unknown section": (_with("sections.finance", {"x": "y"}), "sections.finance: unknown"),
    "unknown section field": (
        _with("sections.general.mood", "good"),
        "sections.general.mood: unknown field",
    ),
    "section field wrong type": (
        _with("sections.general.retries", "1"),
        "sections.general.retries: must be an integer",
    ),
    "custom tag not a string": (
        _with("environment.custom_tags", {"retries": 3}),
        "custom_tags.retries: must be a string",
    ),
    "metadata null value": (_with("steps.0.metadata", {"parent": None}), "metadata.parent: null"),
    "lone surrogate": (_with("output_summary", "bad \ud800 text"), "lone surrogate"),
    "too large overall": (
        _with(
            "steps",
            [
                {"step_number": n, "action": "execution", "description": "d" * 9_000}
                for n in range(1, 130)
            ],
        ),
        "over the limit of 1048576",
    ),
}


@pytest.mark.parametrize("body", list(VALID.values()), ids=list(VALID))
def test_valid_payloads_have_no_problems(body: dict[str, Any]) -> None:
    assert validate_trace_payload(body) == []


@pytest.mark.parametrize(("body", "expected"), list(INVALID.values()), ids=list(INVALID))
def test_invalid_payloads_name_the_problem(body: dict[str, Any], expected: str) -> None:
    problems = validate_trace_payload(body)
    assert problems, "expected at least one problem"
    assert any(expected in problem for problem in problems), problems


@pytest.mark.parametrize(
    ("body", "kind"), [(None, "null"), ([], "list"), ("trace", "string"), (3, "integer")]
)
def test_non_objects_are_refused(body: object, kind: str) -> None:
    assert validate_trace_payload(body) == [f"payload: must be a JSON object, got {kind}"]


def test_every_problem_is_reported_at_once() -> None:
    body = payload(name=None, duration=-1, input_summary=3)
    problems = validate_trace_payload(body)
    assert len(problems) == 3
    assert [p.split(":")[0] for p in problems] == ["name", "duration", "input_summary"]


def test_size_limit_counts_utf8_bytes() -> None:
    # 300,000 three-byte characters are 900,000 bytes; 400,000 are over 1 MiB.
    steps = [
        {"step_number": n, "action": "execution", "description": "€" * 5_000} for n in range(1, 61)
    ]
    fits = payload(steps=steps)
    assert encoded_size(fits) < MAX_PAYLOAD_BYTES
    assert validate_trace_payload(fits) == []
    too_big = payload(
        steps=steps
        + [
            {"step_number": n, "action": "execution", "description": "€" * 5_000}
            for n in range(61, 81)
        ]
    )
    assert encoded_size(too_big) > MAX_PAYLOAD_BYTES
    assert any("over the limit" in p for p in validate_trace_payload(too_big))


def test_a_payload_built_with_the_platform_sdk_is_valid() -> None:
    infinium = pytest.importorskip("infinium")
    from infinium import types as sdk

    client = infinium.InfiniumClient(
        SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, base_url="http://127.0.0.1:9/api/v1"
    )
    task = sdk.TaskData(
        name="sdk-built run",
        description="Built with the platform's own dataclasses",
        current_datetime=client.get_current_iso_datetime(),
        duration=1.25,
        input_summary="question",
        output_summary="answer",
        expected_outcome=sdk.ExpectedOutcome(task_objective="answer", constraints=["polite"]),
        steps=[
            sdk.ExecutionStep(
                step_number=1,
                action="llm_call",
                description="chat",
                llm_call=sdk.LlmCall(model="gpt-4o-mini", prompt_tokens=10, completion_tokens=5),
            ),
            sdk.ExecutionStep(
                step_number=2,
                action="tool_use",
                description="lookup",
                tool_call=sdk.ToolCall(
                    tool_name="lookup",
                    error=sdk.ErrorDetail(error_type="KeyError", message="missing"),
                ),
            ),
        ],
        errors=[sdk.ErrorDetail(error_type="KeyError", message="missing", recoverable=True)],
        llm_usage=sdk.LlmUsage(
            model="gpt-4o-mini", total_tokens=15, calls=[sdk.LlmCall(model="gpt-4o-mini")]
        ),
        environment=sdk.EnvironmentContext(framework="otel", custom_tags={"k": "v"}),
        general=sdk.General(tools_used=["lookup"], retries=1),
        time_tracking=sdk.TimeTracking(start_time=client.get_current_iso_datetime()),
    )
    body = client._task_data_to_dict(task)
    client.close()
    assert body["steps"][1]["tool_call"]["error"]["recoverable"] is False
    assert validate_trace_payload(body) == []
