"""The two checks every payload in the test suite passes.

``check_payload(payload)``: (1) the contract validator finds no problem, and
(2) the platform SDK's dataclasses (``infinium.types``) rebuild every part of
it without unknown keys and without losing or changing a value.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from infinium import types as sdk

_SECTIONS: dict[str, type[Any]] = {
    "time_tracking": sdk.TimeTracking,
    "customer": sdk.Customer,
    "support": sdk.Support,
    "sales": sdk.Sales,
    "marketing": sdk.Marketing,
    "content": sdk.Content,
    "research": sdk.Research,
    "project": sdk.Project,
    "development": sdk.Development,
    "executive": sdk.Executive,
    "general": sdk.General,
}
_TOP_LEVEL = {
    "name",
    "description",
    "current_datetime",
    "duration",
    "input_summary",
    "output_summary",
    "expected_outcome",
    "steps",
    "errors",
    "llm_usage",
    "sections",
    "environment",
    "prompt_studio",
}


def check_payload(payload: dict[str, Any]) -> dict[str, Any]:
    """Assert both checks; returns the payload for chaining."""
    from infinium_otel.sandbox.validation import validate_trace_payload

    problems = validate_trace_payload(payload)
    assert problems == [], problems
    assert set(payload) <= _TOP_LEVEL, set(payload) - _TOP_LEVEL
    _rebuilds(payload)
    return payload


def _without_none(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_none(v) for v in value]
    return value


def _same(obj: Any, original: Any) -> None:
    rebuilt = _without_none(dataclasses.asdict(obj))
    assert rebuilt == original, (rebuilt, original)


def _error(data: dict[str, Any]) -> Any:
    return sdk.ErrorDetail(**data)


def _llm_call(data: dict[str, Any]) -> Any:
    return sdk.LlmCall(**data)


def _step(data: dict[str, Any]) -> Any:
    fields = dict(data)
    if "error" in fields:
        fields["error"] = _error(fields["error"])
    if "llm_call" in fields:
        fields["llm_call"] = _llm_call(fields["llm_call"])
    if "tool_call" in fields:
        tool = dict(fields["tool_call"])
        if "error" in tool:
            tool["error"] = _error(tool["error"])
        fields["tool_call"] = sdk.ToolCall(**tool)
    return sdk.ExecutionStep(**fields)


def _rebuilds(payload: dict[str, Any]) -> None:
    steps = [_step(s) for s in payload.get("steps", [])]
    for step, original in zip(steps, payload.get("steps", []), strict=True):
        _same(step, original)
    errors = [_error(e) for e in payload.get("errors", [])]
    for error, original in zip(errors, payload.get("errors", []), strict=True):
        _same(error, original)
    usage = None
    if "llm_usage" in payload:
        fields = dict(payload["llm_usage"])
        if "calls" in fields:
            fields["calls"] = [_llm_call(c) for c in fields["calls"]]
        usage = sdk.LlmUsage(**fields)
        _same(usage, payload["llm_usage"])
    outcome = None
    if "expected_outcome" in payload:
        outcome = sdk.ExpectedOutcome(**payload["expected_outcome"])
        _same(outcome, payload["expected_outcome"])
    environment = None
    if "environment" in payload:
        environment = sdk.EnvironmentContext(**payload["environment"])
        _same(environment, payload["environment"])
    sections: dict[str, Any] = {}
    for name, data in payload.get("sections", {}).items():
        fields = dict(data)
        if name == "general" and "errors_encountered" in fields:
            fields["errors_encountered"] = [_error(e) for e in fields["errors_encountered"]]
        sections[name] = _SECTIONS[name](**fields)
        _same(sections[name], data)
    sdk.TaskData(
        name=payload["name"],
        description=payload["description"],
        current_datetime=payload["current_datetime"],
        duration=payload["duration"],
        input_summary=payload.get("input_summary"),
        output_summary=payload.get("output_summary"),
        steps=steps or None,
        errors=errors or None,
        llm_usage=usage,
        expected_outcome=outcome,
        environment=environment,
        **sections,
    )
