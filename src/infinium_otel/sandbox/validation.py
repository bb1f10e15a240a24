"""The Infinium trace payload contract as a pure checker.

``validate_trace_payload`` returns readable problems ("steps[2].llm_call.model: required")
and an empty list for a valid payload. The sandbox answers 422 with these problems, and
tests run every payload the exporter produces through it.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from infinium_otel.contract import (
    DESCRIPTION_MAX,
    INPUT_SUMMARY_MAX,
    MAX_DURATION_SECONDS,
    MAX_PAYLOAD_BYTES,
    NAME_MAX,
    OUTPUT_SUMMARY_MAX,
    SECTION_FIELDS,
    STACK_TRACE_MAX,
    STEP_INPUT_PREVIEW_MAX,
    STEP_OUTPUT_PREVIEW_MAX,
    TOOL_INPUT_SUMMARY_MAX,
    TOOL_OUTPUT_SUMMARY_MAX,
    FieldType,
    is_iso_datetime,
)

_UTC_DATETIME_RE = re.compile(r"^(\d{4})-(\d{2})-(\d{2})T(\d{2}):(\d{2}):(\d{2})(?:\.(\d{1,9}))?Z$")

Problems = list[str]
Check = Callable[[Any, str, Problems], None]


def validate_trace_payload(obj: object) -> list[str]:
    """Problems that make ``obj`` violate the trace payload contract; empty when valid."""
    problems: Problems = []
    if not isinstance(obj, Mapping):
        return [f"payload: must be a JSON object, got {_type_name(obj)}"]
    _check_object(
        obj,
        "",
        _TOP_LEVEL,
        problems,
        required=("name", "description", "current_datetime", "duration"),
    )
    if not problems:
        _check_size(obj, problems)
    return problems


# ---------------------------------------------------------------- primitive checks


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, (list, tuple)):
        return "list"
    if isinstance(value, Mapping):
        return "object"
    return type(value).__name__


def _string(max_len: int | None = None) -> Check:
    def check(value: Any, path: str, problems: Problems) -> None:
        if not isinstance(value, str):
            problems.append(f"{path}: must be a string, got {_type_name(value)}")
            return
        if max_len is not None and len(value) > max_len:
            problems.append(f"{path}: {len(value)} characters, over the cap of {max_len}")
        if not _encodes_as_utf8(value):
            problems.append(f"{path}: not valid UTF-8 text (lone surrogate)")

    return check


def _integer(minimum: int | None = 0, maximum: int | None = None) -> Check:
    def check(value: Any, path: str, problems: Problems) -> None:
        if isinstance(value, bool) or not isinstance(value, int):
            problems.append(f"{path}: must be an integer, got {_type_name(value)}")
            return
        if minimum is not None and value < minimum:
            problems.append(f"{path}: must be >= {minimum}, got {value}")
        if maximum is not None and value > maximum:
            problems.append(f"{path}: must be <= {maximum}, got {value}")

    return check


def _number(minimum: float | None = None, maximum: float | None = None) -> Check:
    def check(value: Any, path: str, problems: Problems) -> None:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            problems.append(f"{path}: must be a number, got {_type_name(value)}")
            return
        if not math.isfinite(value):
            problems.append(f"{path}: must be a finite number, got {value}")
            return
        if minimum is not None and value < minimum:
            problems.append(f"{path}: must be >= {minimum:g}, got {value}")
        if maximum is not None and value > maximum:
            problems.append(f"{path}: must be <= {maximum:g}, got {value}")

    return check


def _boolean(value: Any, path: str, problems: Problems) -> None:
    if not isinstance(value, bool):
        problems.append(f"{path}: must be true or false, got {_type_name(value)}")


def _list_of(item: Check) -> Check:
    def check(value: Any, path: str, problems: Problems) -> None:
        if not isinstance(value, (list, tuple)):
            problems.append(f"{path}: must be a list, got {_type_name(value)}")
            return
        if not value:
            problems.append(f"{path}: empty list (leave the key out instead)")
            return
        for index, element in enumerate(value):
            element_path = f"{path}[{index}]"
            if element is None:
                problems.append(f"{element_path}: null is not allowed")
            else:
                item(element, element_path, problems)

    return check


def _string_or_list() -> Check:
    as_list = _list_of(_string())
    as_string = _string()

    def check(value: Any, path: str, problems: Problems) -> None:
        (as_string if isinstance(value, str) else as_list)(value, path, problems)

    return check


def _utc_datetime(value: Any, path: str, problems: Problems) -> None:
    if not isinstance(value, str):
        problems.append(f"{path}: must be an ISO 8601 UTC string, got {_type_name(value)}")
        return
    match = _UTC_DATETIME_RE.match(value)
    if match is None:
        problems.append(f"{path}: {value[:40]!r} is not ISO 8601 UTC like 2025-01-31T12:00:00.000Z")
        return
    year, month, day, hour, minute, second = (int(g) for g in match.groups()[:6])
    try:
        datetime(year, month, day, hour, minute, second)
    except ValueError as exc:
        problems.append(f"{path}: {value!r} is not a real date and time ({exc})")


def _iso_datetime(value: Any, path: str, problems: Problems) -> None:
    """Section timestamps: any ISO 8601 date and time (the SDK types them as plain text)."""
    if not isinstance(value, str):
        problems.append(f"{path}: must be an ISO 8601 string, got {_type_name(value)}")
    elif not is_iso_datetime(value):
        problems.append(f"{path}: {value[:40]!r} is not an ISO 8601 date and time")


def _json_value(value: Any, path: str, problems: Problems) -> None:
    """Free-form JSON (step metadata): any JSON type, but no nulls or empty containers."""
    if isinstance(value, Mapping):
        if not value:
            problems.append(f"{path}: empty object (leave the key out instead)")
        for key, inner in value.items():
            inner_path = f"{path}.{key}"
            if not isinstance(key, str):
                problems.append(f"{inner_path}: object keys must be strings")
            elif inner is None:
                problems.append(f"{inner_path}: null (leave the key out instead)")
            else:
                _json_value(inner, inner_path, problems)
    elif isinstance(value, (list, tuple)):
        if not value:
            problems.append(f"{path}: empty list (leave the key out instead)")
        for index, inner in enumerate(value):
            if inner is None:
                problems.append(f"{path}[{index}]: null is not allowed")
            else:
                _json_value(inner, f"{path}[{index}]", problems)
    elif isinstance(value, str):
        _string()(value, path, problems)
    elif isinstance(value, float):
        _number()(value, path, problems)
    elif not isinstance(value, (int, bool)):
        problems.append(f"{path}: {_type_name(value)} is not a JSON value")


def _string_map(value: Any, path: str, problems: Problems) -> None:
    if not isinstance(value, Mapping):
        problems.append(f"{path}: must be an object of strings, got {_type_name(value)}")
        return
    if not value:
        problems.append(f"{path}: empty object (leave the key out instead)")
    for key, inner in value.items():
        if not isinstance(key, str):
            problems.append(f"{path}: keys must be strings, got {_type_name(key)}")
        elif not isinstance(inner, str):
            problems.append(f"{path}.{key}: must be a string, got {_type_name(inner)}")


# ---------------------------------------------------------------- objects


Fields = Mapping[str, Check]


def _object(fields: Fields, required: tuple[str, ...] = ()) -> Check:
    def check(value: Any, path: str, problems: Problems) -> None:
        _check_object(value, path, fields, problems, required=required)

    return check


def _check_object(
    value: Any, path: str, fields: Fields, problems: Problems, *, required: tuple[str, ...]
) -> None:
    label = path or "payload"
    if not isinstance(value, Mapping):
        problems.append(f"{label}: must be an object, got {_type_name(value)}")
        return
    if not value and path:
        problems.append(f"{label}: empty object (leave the key out instead)")
        return
    prefix = f"{path}." if path else ""
    for name in required:
        if name not in value:
            problems.append(f"{prefix}{name}: required")
    for key, inner in value.items():
        key_path = f"{prefix}{key}"
        check = fields.get(key) if isinstance(key, str) else None
        if check is None:
            problems.append(f"{key_path}: unknown field (allowed: {', '.join(sorted(fields))})")
        elif inner is None:
            problems.append(f"{key_path}: null (leave the key out instead)")
        else:
            check(inner, key_path, problems)


_ERROR_DETAIL = _object(
    {
        "error_type": _string(),
        "message": _string(),
        "recoverable": _boolean,
        "retry_count": _integer(0),
        "stack_trace": _string(STACK_TRACE_MAX),
        "error_code": _string(),
    },
    required=("error_type", "message"),
)

_TOOL_CALL = _object(
    {
        "tool_name": _string(),
        "duration_ms": _integer(0),
        "input_summary": _string(TOOL_INPUT_SUMMARY_MAX),
        "output_summary": _string(TOOL_OUTPUT_SUMMARY_MAX),
        "error": _ERROR_DETAIL,
        "http_status": _integer(100, 599),
    },
    required=("tool_name",),
)

_LLM_CALL = _object(
    {
        "model": _string(),
        "provider": _string(),
        "prompt_tokens": _integer(0),
        "completion_tokens": _integer(0),
        "latency_ms": _integer(0),
        "temperature": _number(0.0),
        "purpose": _string(),
    },
    required=("model",),
)

_STEP_FIELDS: Fields = {
    "step_number": _integer(1),
    "action": _string(),
    "description": _string(),
    "duration_ms": _integer(0),
    "input_preview": _string(STEP_INPUT_PREVIEW_MAX),
    "output_preview": _string(STEP_OUTPUT_PREVIEW_MAX),
    "error": _ERROR_DETAIL,
    "tool_call": _TOOL_CALL,
    "llm_call": _LLM_CALL,
    "metadata": _json_value,
}
_STEP = _object(_STEP_FIELDS, required=("step_number", "action", "description"))


def _steps(value: Any, path: str, problems: Problems) -> None:
    _list_of(_STEP)(value, path, problems)
    if not isinstance(value, (list, tuple)):
        return
    numbers: list[int] = [
        step["step_number"]
        for step in value
        if isinstance(step, Mapping) and isinstance(step.get("step_number"), int)
    ]
    if any(later <= earlier for earlier, later in itertools.pairwise(numbers)):
        problems.append(f"{path}: step_number values must increase (got {numbers[:20]})")


_EXPECTED_OUTCOME = _object(
    {
        "task_objective": _string(),
        "required_deliverables": _list_of(_string()),
        "constraints": _list_of(_string()),
        "acceptance_criteria": _list_of(_string()),
    },
    required=("task_objective",),
)

_LLM_USAGE = _object(
    {
        "model": _string(),
        "provider": _string(),
        "prompt_tokens": _integer(0),
        "completion_tokens": _integer(0),
        "total_tokens": _integer(0),
        "estimated_cost_usd": _number(0.0),
        "api_calls_count": _integer(0),
        "total_latency_ms": _integer(0),
        "calls": _list_of(_LLM_CALL),
    }
)

_S, _I, _F, _SL = _string(), _integer(0), _number(), _string_or_list()


def _text_or_object(value: Any, path: str, problems: Problems) -> None:
    (_S if isinstance(value, str) else _json_value)(value, path, problems)


_FIELD_CHECKS: dict[FieldType, Check] = {
    "text": _S,
    "bool": _boolean,
    "int": _I,
    "float": _F,
    "text_list": _list_of(_S),
    "text_or_list": _SL,
    "datetime": _iso_datetime,
    "text_or_object": _text_or_object,
    "errors": _list_of(_ERROR_DETAIL),
}
_SECTIONS: dict[str, Fields] = {
    section: {name: _FIELD_CHECKS[kind] for name, kind in fields.items()}
    for section, fields in SECTION_FIELDS.items()
}
SECTION_NAMES = frozenset(_SECTIONS)

_SECTIONS_CHECK = _object({name: _object(fields) for name, fields in _SECTIONS.items()})

_ENVIRONMENT = _object(
    {
        "framework": _S,
        "framework_version": _S,
        "python_version": _S,
        "sdk_version": _S,
        "runtime": _S,
        "region": _S,
        "custom_tags": _string_map,
    }
)

_PROMPT_USED = _object(
    {
        "prompt_id": _S,
        "prompt_name": _S,
        "version": _integer(0),
        "source": _S,
        "variables_used": _list_of(_S),
        "fetched_at": _iso_datetime,
    },
    required=("prompt_id",),
)
_PROMPT_STUDIO = _object({"prompts_used": _list_of(_PROMPT_USED)}, required=("prompts_used",))

_TOP_LEVEL: Fields = {
    "name": _string(NAME_MAX),
    "description": _string(DESCRIPTION_MAX),
    "current_datetime": _utc_datetime,
    "duration": _number(0.0, MAX_DURATION_SECONDS),
    "input_summary": _string(INPUT_SUMMARY_MAX),
    "output_summary": _string(OUTPUT_SUMMARY_MAX),
    "expected_outcome": _EXPECTED_OUTCOME,
    "steps": _steps,
    "errors": _list_of(_ERROR_DETAIL),
    "llm_usage": _LLM_USAGE,
    "sections": _SECTIONS_CHECK,
    "environment": _ENVIRONMENT,
    "prompt_studio": _PROMPT_STUDIO,
}
TOP_LEVEL_KEYS = tuple(_TOP_LEVEL)


# ---------------------------------------------------------------- size


def _encodes_as_utf8(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def encoded_size(obj: object) -> int:
    """Bytes of ``obj`` as compact UTF-8 JSON (the smallest form a sender can produce)."""
    return len(
        json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")
    )


def _check_size(obj: object, problems: Problems) -> None:
    try:
        size = encoded_size(obj)
    except (TypeError, ValueError, UnicodeEncodeError) as exc:
        problems.append(f"payload: cannot be encoded as UTF-8 JSON ({exc})")
        return
    if size > MAX_PAYLOAD_BYTES:
        problems.append(f"payload: {size} bytes of JSON, over the limit of {MAX_PAYLOAD_BYTES}")
