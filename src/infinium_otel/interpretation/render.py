"""Turn an outcome into text and attribute values: pure functions, no I/O."""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from typing import Any

from infinium_otel._text import cap
from infinium_otel.interpretation.outcome import InterpretationOutcome

__all__ = [
    "SPAN_TEXT_CAP",
    "SUMMARY_CAP",
    "compact_json",
    "result_text",
    "summary_line",
    "summary_text",
    "to_any_value",
]

SUMMARY_CAP = 500
"""Characters of the result shown in the one-line Python log message."""

SPAN_TEXT_CAP = 64 * 1024
"""Characters of the result put on a span event attribute."""

_SUMMARY_KEYS = ("summary", "interpretation", "text", "verdict")


def compact_json(value: Any) -> str:
    """JSON without spaces; anything JSON cannot encode becomes its ``str``."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=str)


def result_text(result: Any) -> str:
    """The whole result as text: a string as is, anything else as compact JSON."""
    if result is None:
        return ""
    if isinstance(result, str):
        return result
    return compact_json(result)


def summary_text(result: Any) -> str:
    """The most readable short form: a string, a ``summary``-like field, or JSON."""
    if isinstance(result, Mapping):
        for key in _SUMMARY_KEYS:
            value = result.get(key)
            if isinstance(value, str) and value.strip():
                return value
    return result_text(result)


def _describe_run(outcome: InterpretationOutcome) -> str:
    agent = f" for agent {outcome.agent_name!r}" if outcome.agent_name else ""
    return (
        f"Maestro interpretation{agent} (infinium trace {outcome.infinium_trace_id}, "
        f"otel trace {outcome.trace_id_hex})"
    )


def summary_line(outcome: InterpretationOutcome, *, limit: int = SUMMARY_CAP) -> str:
    """One readable line saying what happened to the run's interpretation."""
    head = _describe_run(outcome)
    if outcome.status == "ready":
        text = " ".join(summary_text(outcome.result).split())
        return f"{head}: {cap(text, limit)}"
    if outcome.status == "timed_out":
        return f"{head} not ready after {outcome.elapsed:.1f} s: {cap(outcome.message, limit)}"
    return f"{head} failed: {cap(outcome.message, limit)}"


def to_any_value(value: Any, _depth: int = 0) -> Any:
    """``value`` as an OpenTelemetry log body (AnyValue): JSON types, str keys.

    Anything else (and nesting deeper than 32 levels) becomes text, so an odd
    result can never make the log pipeline reject the record.
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if _depth >= 32:
        return compact_json(value)
    if isinstance(value, Mapping):
        return {str(k): to_any_value(v, _depth + 1) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, (bytes, bytearray)):
        return [to_any_value(v, _depth + 1) for v in value]
    return str(value)
