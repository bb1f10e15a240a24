"""A deterministic stand-in for Maestro's interpretation, computed from a stored payload."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

SOURCE = "infinium-otel local sandbox (not Maestro)"


def _int(value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    return int(value) if math.isfinite(value) else 0


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return list(value) if isinstance(value, (list, tuple)) else []


def summarize_payload(payload: Mapping[str, Any]) -> dict[str, Any]:
    """Counts a reader cares about: steps, LLM calls, tokens, errors, duration."""
    steps = [s for s in _list(payload.get("steps")) if isinstance(s, Mapping)]
    usage = _mapping(payload.get("llm_usage"))
    step_llm_calls = [_mapping(s.get("llm_call")) for s in steps if s.get("llm_call")]

    llm_calls = _int(usage.get("api_calls_count")) or len(_list(usage.get("calls")))
    llm_calls = llm_calls or len(step_llm_calls)

    tokens = _int(usage.get("total_tokens"))
    if not tokens:
        tokens = _int(usage.get("prompt_tokens")) + _int(usage.get("completion_tokens"))
    if not tokens:
        tokens = sum(
            _int(c.get("prompt_tokens")) + _int(c.get("completion_tokens")) for c in step_llm_calls
        )

    errors = len(_list(payload.get("errors"))) or sum(1 for s in steps if s.get("error"))
    duration = payload.get("duration")
    duration_seconds = (
        float(duration)
        if isinstance(duration, (int, float)) and not isinstance(duration, bool)
        else 0.0
    )
    return {
        "name": str(payload.get("name", "")),
        "steps": len(steps),
        "llm_calls": llm_calls,
        "total_tokens": tokens,
        "errors": errors,
        "duration_seconds": round(duration_seconds, 3),
    }


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


def interpret(payload: Mapping[str, Any]) -> dict[str, Any]:
    """The ``interpretedTraceResult`` the sandbox serves once a trace is "ready"."""
    facts = summarize_payload(payload)
    summary = (
        f"Run {facts['name']!r} took {facts['duration_seconds']:g} s over "
        f"{_plural(facts['steps'], 'step')}, with {_plural(facts['llm_calls'], 'LLM call')} "
        f"using {_plural(facts['total_tokens'], 'token')} and "
        f"{_plural(facts['errors'], 'error')}. "
        "This summary comes from the local infinium-otel sandbox, not from Maestro."
    )
    return {
        "source": SOURCE,
        "summary": summary,
        "steps": facts["steps"],
        "llm_calls": facts["llm_calls"],
        "total_tokens": facts["total_tokens"],
        "errors": facts["errors"],
        "duration_seconds": facts["duration_seconds"],
    }
