"""Errors of a run from ERROR statuses and ``exception`` span events, as ErrorDetail dicts.

An exception that propagates up records the same event on every span it
leaves; it is reported once, on the deepest span. With content capture off the
message is replaced by the exception type and the stack trace keeps only its
frame lines (file, line, function), since messages and source lines can carry
user content.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.contract import STACK_TRACE_MAX
from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.values import text
from infinium_otel.payload.encode import TEXT_MAX, cap
from infinium_otel.payload.order import plain_text

__all__ = ["span_errors", "unique_errors"]

_TYPE_PREFIX = re.compile(r"^([A-Za-z_][\w.]*(?:Error|Exception|Exit|Interrupt|Warning|Fault))\b")
_FRAME_LINE = re.compile(r'^\s*File "')
_MAX_EVENTS = 20

ErrorKey = tuple[str, str]


def span_errors(
    span: ReadableSpan, facts: SpanFacts, capture_content: bool
) -> list[dict[str, Any]]:
    """ErrorDetails of one span: one per exception event, else one for an ERROR status."""
    found: list[dict[str, Any]] = []
    fallback_type = text((span.attributes or {}).get("error.type"))
    for event in span.events or ():
        if event.name != "exception":
            continue
        attributes: Mapping[str, Any] = event.attributes or {}
        error_type = text(attributes.get("exception.type")) or fallback_type or "Exception"
        message = text(attributes.get("exception.message"))
        found.append(
            _detail(
                error_type, message, text(attributes.get("exception.stacktrace")), capture_content
            )
        )
        if len(found) >= _MAX_EVENTS:
            break
    if not found and facts.failed:
        description = facts.status_description
        error_type = fallback_type or _type_from(description) or "Error"
        found.append(_detail(error_type, description, None, capture_content))
    return found


def _type_from(description: str | None) -> str | None:
    if not description:
        return None
    match = _TYPE_PREFIX.match(description)
    return match.group(1) if match else None


def _detail(
    error_type: str, message: str | None, stack: str | None, capture_content: bool
) -> dict[str, Any]:
    error_type = cap(error_type, 200)
    if capture_content:
        shown = cap(message, TEXT_MAX) if message else error_type
        trace = cap(stack, STACK_TRACE_MAX) if stack else None
    else:
        shown = error_type
        trace = _frames_only(stack)
    # Contract key order and plain values: the payload uses these as they are.
    detail: dict[str, Any] = {
        "error_type": plain_text(error_type),
        "message": plain_text(shown),
        "recoverable": False,
        "retry_count": 0,
    }
    if trace:
        detail["stack_trace"] = plain_text(trace)
    return detail


def _frames_only(stack: str | None) -> str | None:
    if not stack:
        return None
    frames = [line.strip() for line in stack.splitlines() if _FRAME_LINE.match(line)]
    return cap("\n".join(frames), STACK_TRACE_MAX) if frames else None


def unique_errors(
    per_span: list[tuple[int, list[dict[str, Any]]]], parents: Mapping[int, int | None]
) -> list[dict[str, Any]]:
    """Errors in span order without the copies an exception leaves on each enclosing span."""
    covered: set[tuple[int, ErrorKey]] = set()
    for span_id, errors in per_span:
        for error in errors:
            key = (error["error_type"], error["message"])
            ancestor = parents.get(span_id)
            hops = 0
            while ancestor is not None and hops < 1000:
                covered.add((ancestor, key))
                ancestor = parents.get(ancestor)
                hops += 1
    unique: list[dict[str, Any]] = []
    for span_id, errors in per_span:
        for error in errors:
            if (span_id, (error["error_type"], error["message"])) not in covered:
                unique.append(error)
    return unique
