"""The contract's key order for a trace payload, and the cleaning that goes with it.

Keys come out in the order Maestro reads them (what matters most first, so it
survives any backend truncation); null, empty-list and empty-object values and
non-finite numbers are dropped; bytes become text and unknown objects their
``str``. Unknown keys are kept, after the known ones.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

from infinium_otel.conventions.infinium import SECTIONS

__all__ = [
    "clean_member",
    "is_ordered",
    "order_payload",
    "plain_number",
    "plain_text",
    "plain_value",
]


@dataclasses.dataclass(frozen=True)
class _Spec:
    """Key order of one object; ``fields`` gives the spec of a child (or of each list item)."""

    order: tuple[str, ...] = ()
    fields: Mapping[str, _Spec] = dataclasses.field(default_factory=dict)


_FREE = _Spec()
_ERROR = _Spec(("error_type", "message", "recoverable", "retry_count", "stack_trace", "error_code"))
_LLM_CALL = _Spec(
    (
        "model",
        "provider",
        "prompt_tokens",
        "completion_tokens",
        "latency_ms",
        "temperature",
        "purpose",
    )
)
_TOOL_CALL = _Spec(
    ("tool_name", "duration_ms", "input_summary", "output_summary", "error", "http_status"),
    {"error": _ERROR},
)
_STEP = _Spec(
    (
        "step_number",
        "action",
        "description",
        "duration_ms",
        "input_preview",
        "output_preview",
        "error",
        "tool_call",
        "llm_call",
        "metadata",
    ),
    {"error": _ERROR, "tool_call": _TOOL_CALL, "llm_call": _LLM_CALL},
)
_OUTCOME = _Spec(("task_objective", "required_deliverables", "constraints", "acceptance_criteria"))
_USAGE = _Spec(
    (
        "model",
        "provider",
        "prompt_tokens",
        "completion_tokens",
        "total_tokens",
        "estimated_cost_usd",
        "api_calls_count",
        "total_latency_ms",
        "calls",
    ),
    {"calls": _LLM_CALL},
)
_GENERAL_ORDER = (
    "tools_used",
    "agent_notes",
    "errors_encountered",
    "retries",
    "warnings",
    "external_apis_called",
    "data_sources_accessed",
    "tags",
)
_SECTIONS = _Spec(
    tuple(SECTIONS),
    {
        **{name: _Spec(tuple(fields)) for name, fields in SECTIONS.items()},
        "general": _Spec(_GENERAL_ORDER, {"errors_encountered": _ERROR}),
    },
)
_ENVIRONMENT = _Spec(
    (
        "framework",
        "framework_version",
        "python_version",
        "sdk_version",
        "runtime",
        "region",
        "custom_tags",
    )
)
_TOP = _Spec(
    (
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
    ),
    {
        "expected_outcome": _OUTCOME,
        "steps": _STEP,
        "errors": _ERROR,
        "llm_usage": _USAGE,
        "sections": _SECTIONS,
        "environment": _ENVIRONMENT,
    },
)


def order_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """A copy in contract key order, without null / [] / {} values or non-finite numbers."""
    cleaned = _clean(payload, _TOP, 0)
    return cleaned if isinstance(cleaned, dict) else {}


def is_ordered(payload: Mapping[str, Any]) -> bool:
    """True when ``order_payload`` would change nothing: same keys, order, values and types.

    Cheaper than cleaning (it builds nothing), so a payload conversion already
    built in contract order is used as it is.
    """
    return type(payload) is dict and _object_ordered(payload, _TOP, 0)


_MAX_DEPTH = 64


def _clean(value: Any, spec: _Spec, depth: int) -> Any:
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    if value is None or depth > _MAX_DEPTH:
        return None
    if isinstance(value, Mapping):
        return _clean_object(value, spec, depth)
    if isinstance(value, (list, tuple, set, frozenset)):
        items = []
        for item in value:
            kind = type(item)
            if kind is str or kind is int or kind is bool:
                items.append(item)
                continue
            child = _clean(item, spec, depth + 1)
            if child is None or child == [] or child == {}:
                continue
            items.append(child)
        return items
    if isinstance(value, (str, int)):  # subclasses (enums and the like)
        return str(value) if isinstance(value, str) else int(value)
    if isinstance(value, float):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, (bytes, bytearray)):
        return bytes(value).decode("utf-8", "replace")
    return str(value)


def _clean_object(value: Mapping[Any, Any], spec: _Spec, depth: int) -> dict[str, Any]:
    order = spec.order
    keys: Any = value
    if order:
        keys = [k for k in order if k in value]
        if len(keys) != len(value):
            keys.extend(k for k in value if k not in order)
    fields = spec.fields
    out: dict[str, Any] = {}
    for key in keys:
        child = value[key]
        kind = type(child)
        if not (kind is str or kind is int or kind is bool):
            if child is None:
                continue
            child = _clean(child, fields.get(key, _FREE) if fields else _FREE, depth + 1)
            if child is None or child == [] or child == {}:
                continue
        out[key if type(key) is str else str(key)] = child
    return out


# Key tuples already seen in contract order, per spec: most objects share a few shapes.
_ORDERED_KEYS: dict[tuple[int, tuple[Any, ...]], bool] = {}
_ORDERED_KEYS_MAX = 4096


def _keys_ordered(value: dict[Any, Any], spec: _Spec) -> bool:
    keys = tuple(value)
    known = _ORDERED_KEYS.get((id(spec), keys))
    if known is None:
        order = spec.order
        expected = [k for k in order if k in value]
        expected.extend(k for k in value if k not in order)
        known = keys == tuple(expected) and all(type(k) is str for k in keys)
        if len(_ORDERED_KEYS) < _ORDERED_KEYS_MAX:
            _ORDERED_KEYS[(id(spec), keys)] = known
    return known


def _object_ordered(value: dict[Any, Any], spec: _Spec, depth: int) -> bool:
    """``_clean_object`` would return an equal dict in the same order (``value`` is a dict)."""
    if depth > _MAX_DEPTH or not value:
        return False
    if not _keys_ordered(value, spec):
        return False
    fields = spec.fields
    for key, child in value.items():
        kind = type(child)
        if kind is str or kind is int or kind is bool:
            continue
        if kind is float:
            if not math.isfinite(child):
                return False
        elif kind is dict:
            if not _object_ordered(child, fields.get(key, _FREE) if fields else _FREE, depth + 1):
                return False
        elif kind is list:
            if not _list_ordered(child, fields.get(key, _FREE) if fields else _FREE, depth + 1):
                return False
        else:
            return False
    return True


def _list_ordered(value: list[Any], spec: _Spec, depth: int) -> bool:
    """``_clean`` would return an equal list (``value`` is a list)."""
    if depth > _MAX_DEPTH or not value:
        return False
    for item in value:
        kind = type(item)
        if kind is str or kind is int or kind is bool:
            continue
        if kind is float:
            if not math.isfinite(item):
                return False
        elif kind is dict:
            if not _object_ordered(item, spec, depth + 1):
                return False
        elif kind is list:
            if not _list_ordered(item, spec, depth + 1):
                return False
        else:
            return False
    return True


def clean_member(key: str, value: Any) -> Any:
    """One top-level member cleaned as ``order_payload`` cleans it; None when it would be dropped.

    For a payload built in contract order from the start, where only some members
    (those from user attributes) can hold anything to clean.
    """
    if value is None:
        return None
    return _kept(_clean(value, _TOP.fields.get(key, _FREE), 1))


def plain_value(value: Any) -> Any:
    """A leaf value as ``order_payload`` would send it (None when it would be dropped)."""
    kind = type(value)
    if kind is str or kind is int or kind is bool:
        return value
    return _kept(_clean(value, _FREE, 1))


def plain_text(value: str) -> str:
    """Text as ``order_payload`` would send it: a ``str`` subclass becomes its ``str``."""
    return value if type(value) is str else str(value)


def plain_number(value: float | None) -> float | None:
    """A number as ``order_payload`` would send it: None for NaN and infinities."""
    if value is None or type(value) is int:
        return value
    return plain_value(value)  # type: ignore[no-any-return]


def _kept(value: Any) -> Any:
    return None if value is None or value == [] or value == {} else value
