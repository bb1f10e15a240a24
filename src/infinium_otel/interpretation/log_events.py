"""Emit one OpenTelemetry event as a log record, on whichever logs API is installed.

Current releases take keywords (``logger.emit(context=..., event_name=...)``);
older ones take a whole ``LogRecord``, and the oldest record classes have no
``event_name`` at all, in which case the name travels as the ``event.name``
attribute, as the event conventions did before log records had the field.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from opentelemetry._logs import SeverityNumber
from opentelemetry.context import Context
from opentelemetry.trace import TraceFlags

__all__ = ["LogEvent", "emit_event"]


@dataclass(frozen=True)
class LogEvent:
    """Everything one correlated event record carries."""

    event_name: str
    trace_id: int
    span_id: int
    context: Context
    severity_number: SeverityNumber
    severity_text: str
    body: Any
    attributes: dict[str, Any]
    timestamp: int


def _parameters(function: Callable[..., Any]) -> set[str]:
    try:
        return set(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return set()


def emit_event(logger: Any, event: LogEvent) -> None:
    """Emit ``event`` through ``logger`` (an OpenTelemetry ``Logger``)."""
    accepted = _parameters(logger.emit)
    if "body" not in accepted:
        emit_whole_record(logger, event)
        return
    fields: dict[str, Any] = {
        "timestamp": event.timestamp,
        "observed_timestamp": event.timestamp,
        "context": event.context,
        "severity_number": event.severity_number,
        "severity_text": event.severity_text,
        "body": event.body,
        "attributes": event.attributes,
    }
    if "event_name" in accepted:
        fields["event_name"] = event.event_name
    else:
        fields["attributes"] = {**event.attributes, "event.name": event.event_name}
    logger.emit(**fields)


def emit_whole_record(logger: Any, event: LogEvent) -> None:
    """Older SDKs take a whole record (the SDK's own, carrying the resource)."""
    fields: dict[str, Any] = {
        "timestamp": event.timestamp,
        "observed_timestamp": event.timestamp,
        "trace_id": event.trace_id,
        "span_id": event.span_id,
        "trace_flags": TraceFlags(TraceFlags.SAMPLED),
        "severity_text": event.severity_text,
        "severity_number": event.severity_number,
        "body": event.body,
        "attributes": event.attributes,
    }
    import opentelemetry.sdk._logs as sdk_logs
    from opentelemetry._logs import LogRecord as ApiLogRecord

    resource = getattr(logger, "resource", None)
    record_class: Any = getattr(sdk_logs, "LogRecord", None)
    if resource is not None and record_class is not None:
        fields["resource"] = resource  # older SDKs keep the resource on the record
    else:
        record_class = ApiLogRecord
    if "event_name" in _parameters(record_class):
        fields["event_name"] = event.event_name
    else:
        fields["attributes"] = {**event.attributes, "event.name": event.event_name}
    logger.emit(record_class(**fields))
