"""Where an outcome goes: an OTel log record plus a Python log record, a child
span carrying an event, or a user callback. Each sink does one thing; the
processor isolates them from each other.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, Protocol

from opentelemetry import context as otel_context
from opentelemetry import trace
from opentelemetry._logs import LoggerProvider, SeverityNumber, get_logger_provider
from opentelemetry.context import Context
from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags, TracerProvider

from infinium_otel._text import cap
from infinium_otel._version import __version__
from infinium_otel.interpretation.evaluation import (
    EVALUATION_EVENT_NAME,
    evaluation_attributes,
    evaluations_for,
)
from infinium_otel.interpretation.log_events import LogEvent, emit_event, emit_whole_record
from infinium_otel.interpretation.outcome import InterpretationOutcome
from infinium_otel.interpretation.render import (
    SPAN_TEXT_CAP,
    result_text,
    summary_line,
    to_any_value,
)

__all__ = [
    "EVALUATION_EVENT_NAME",
    "EVENT_NAME",
    "LOGGER_NAME",
    "SCOPE_NAME",
    "SPAN_NAME",
    "CallbackSink",
    "LogSink",
    "Sink",
    "SpanEventSink",
    "build_sinks",
    "run_context",
]

SCOPE_NAME = "infinium_otel.interpretation"
"""Instrumentation scope of our records and spans (the exporter skips this scope)."""
LOGGER_NAME = "infinium_otel.interpretation"
"""The Python logger that carries the readable result line."""
EVENT_NAME = "infinium.interpretation"
SPAN_NAME = "infinium.interpretation"

_SEVERITY = {
    "ready": (SeverityNumber.INFO, "INFO", logging.INFO),
    "timed_out": (SeverityNumber.WARN, "WARN", logging.WARNING),
    "failed": (SeverityNumber.ERROR, "ERROR", logging.ERROR),
}


class Sink(Protocol):
    """Receives every outcome on the processor's thread."""

    name: str

    def emit(self, outcome: InterpretationOutcome) -> None: ...


def run_context(outcome: InterpretationOutcome) -> Context:
    """A context whose current span is the run root, so records correlate to it."""
    parent = NonRecordingSpan(
        SpanContext(
            trace_id=outcome.otel_trace_id,
            span_id=outcome.otel_span_id,
            is_remote=True,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
    )
    return trace.set_span_in_context(parent, Context())


def _common_attributes(outcome: InterpretationOutcome) -> dict[str, Any]:
    attributes: dict[str, Any] = {
        "infinium.trace_id": outcome.infinium_trace_id,
        "infinium.interpretation.status": outcome.status,
    }
    if outcome.agent_name:
        attributes["gen_ai.agent.name"] = outcome.agent_name
    if outcome.service_name:
        attributes["service.name"] = outcome.service_name
    return attributes


def _is_otel_logging_handler(handler: logging.Handler) -> bool:
    cls = type(handler)
    return cls.__name__ == "LoggingHandler" and cls.__module__.startswith("opentelemetry.")


def otel_handler_takes(logger: logging.Logger, level: int) -> bool:
    """Whether a ``level`` record on ``logger`` reaches an OpenTelemetry ``LoggingHandler``.

    Mirrors ``logging``'s own path: the logger's effective level, then each
    handler's level up the ``propagate`` chain (handler filters are not run).
    """
    if not logger.isEnabledFor(level):
        return False
    current: logging.Logger | None = logger
    while current is not None:
        for handler in current.handlers:
            if _is_otel_logging_handler(handler) and level >= handler.level:
                return True
        if not current.propagate:
            return False
        current = current.parent
    return False


class LogSink:
    """OTel log records correlated to the run, and a readable Python log record.

    The OTel records are the ``infinium.interpretation`` record (the result as
    Maestro returned it) and ``gen_ai.evaluation.result`` records: one overall,
    one per metric the result carries (see ``evaluation``). The Python record
    is logged while the run's context is current, so an OpenTelemetry
    ``LoggingHandler`` that exports it ties it to the run as well. When such a
    handler will take the record and no ``logger_provider`` was given, the
    handler's copy stands for the ``infinium.interpretation`` record and ours
    is not emitted a second time; the evaluation records are always emitted.
    """

    name = "log"

    def __init__(
        self,
        logger_provider: LoggerProvider | None = None,
        python_logger: logging.Logger | None = None,
    ) -> None:
        self._logger_provider = logger_provider
        self._python_logger = python_logger or logging.getLogger(LOGGER_NAME)

    def emit(self, outcome: InterpretationOutcome, *, python_level: int | None = None) -> None:
        ctx = run_context(outcome)
        level = _SEVERITY[outcome.status][2] if python_level is None else python_level
        try:
            if self._logger_provider is not None or not otel_handler_takes(
                self._python_logger, level
            ):
                self.emit_otel(outcome, ctx)
            self.emit_evaluations(outcome, ctx)
        finally:  # the readable line is written even when a log pipeline fails
            self.emit_python(outcome, ctx, level=level)

    def _otel_logger(self) -> Any:
        provider = self._logger_provider or get_logger_provider()
        return provider.get_logger(SCOPE_NAME, __version__)

    def emit_otel(self, outcome: InterpretationOutcome, ctx: Context) -> None:
        """The ``infinium.interpretation`` record: the result as Maestro returned it."""
        severity_number, severity_text, _ = _SEVERITY[outcome.status]
        body = to_any_value(outcome.result) if outcome.status == "ready" else outcome.message
        attributes = _common_attributes(outcome)
        attributes["infinium.interpretation.attempts"] = outcome.attempts
        if outcome.status != "ready":
            attributes["infinium.interpretation.message"] = outcome.message
        emit_event(
            self._otel_logger(),
            _event(outcome, ctx, EVENT_NAME, severity_number, severity_text, body, attributes),
        )

    def emit_evaluations(self, outcome: InterpretationOutcome, ctx: Context) -> None:
        """``gen_ai.evaluation.result`` records: the overall verdict, then each metric."""
        severity_number, severity_text, _ = _SEVERITY[outcome.status]
        logger = self._otel_logger()
        for evaluation in evaluations_for(outcome):
            attributes = _common_attributes(outcome)
            attributes.update(evaluation_attributes(evaluation))
            if evaluation.overall:
                attributes["infinium.evaluation.overall"] = True
            emit_event(
                logger,
                _event(
                    outcome,
                    ctx,
                    EVALUATION_EVENT_NAME,
                    severity_number,
                    severity_text,
                    None,
                    attributes,
                ),
            )

    def emit_python(self, outcome: InterpretationOutcome, ctx: Context, *, level: int) -> None:
        chosen = level
        if not self._python_logger.isEnabledFor(chosen):
            return
        extra = {
            "infinium_trace_id": outcome.infinium_trace_id,
            "otel_trace_id": outcome.trace_id_hex,
            "otel_span_id": outcome.span_id_hex,
            "interpretation_status": outcome.status,
            "agent_name": outcome.agent_name,
            "service_name": outcome.service_name,
            "interpretation": outcome.result,
            "interpretation_message": outcome.message,
        }
        token = otel_context.attach(ctx)
        try:
            self._python_logger.log(chosen, "%s", summary_line(outcome), extra=extra)
        finally:
            otel_context.detach(token)


def _event(
    outcome: InterpretationOutcome,
    ctx: Context,
    event_name: str,
    severity_number: SeverityNumber,
    severity_text: str,
    body: Any,
    attributes: dict[str, Any],
) -> LogEvent:
    return LogEvent(
        event_name=event_name,
        trace_id=outcome.otel_trace_id,
        span_id=outcome.otel_span_id,
        context=ctx,
        severity_number=severity_number,
        severity_text=severity_text,
        body=body,
        attributes=attributes,
        timestamp=time.time_ns(),
    )


def _emit_legacy(
    logger: Any,
    outcome: InterpretationOutcome,
    now: int,
    severity_number: SeverityNumber,
    severity_text: str,
    body: Any,
    attributes: dict[str, Any],
    event_name: str = EVENT_NAME,
) -> None:
    """The whole-record form of ``Logger.emit`` (opentelemetry-api before keywords)."""
    event = _event(
        outcome, run_context(outcome), event_name, severity_number, severity_text, body, attributes
    )
    emit_whole_record(logger, dataclasses.replace(event, timestamp=now))


class SpanEventSink:
    """A short child span of the run root carrying an ``infinium.interpretation`` event.

    Finished spans take no new events, so the result travels on a new span in
    the run's trace; ``infinium.internal=true`` and the scope name mark it as
    ours so the Infinium exporter never sends it as a run of its own.
    """

    name = "span_event"

    def __init__(self, tracer_provider: TracerProvider | None = None) -> None:
        self._tracer_provider = tracer_provider

    def emit(self, outcome: InterpretationOutcome) -> None:
        provider = self._tracer_provider or trace.get_tracer_provider()
        tracer = provider.get_tracer(SCOPE_NAME, __version__)
        attributes = _common_attributes(outcome)
        event_attributes: dict[str, Any] = {
            "infinium.trace_id": outcome.infinium_trace_id,
            "infinium.interpretation.status": outcome.status,
            "infinium.interpretation": cap(
                result_text(outcome.result) if outcome.status == "ready" else outcome.message,
                SPAN_TEXT_CAP,
            ),
            "infinium.interpretation.attempts": outcome.attempts,
        }
        attributes["infinium.internal"] = True
        span = tracer.start_span(
            SPAN_NAME,
            context=run_context(outcome),
            kind=trace.SpanKind.INTERNAL,
            attributes=attributes,
        )
        try:
            span.add_event(EVENT_NAME, attributes=event_attributes)
            if outcome.status == "failed":
                span.set_status(trace.Status(trace.StatusCode.ERROR, outcome.message[:200]))
        finally:
            span.end()


class CallbackSink:
    """Hands each outcome to the user's function."""

    name = "callback"

    def __init__(self, callback: Callable[[InterpretationOutcome], None]) -> None:
        self._callback = callback

    def emit(self, outcome: InterpretationOutcome) -> None:
        self._callback(outcome)


def build_sinks(
    names: Iterable[str],
    *,
    logger_provider: LoggerProvider | None = None,
    tracer_provider: TracerProvider | None = None,
    on_result: Callable[[InterpretationOutcome], None] | None = None,
) -> list[Sink]:
    """The sinks for ``names`` (``log``, ``span_event``) plus the callback, in that order."""
    wanted = set(names)
    sinks: list[Sink] = []
    if "log" in wanted:
        sinks.append(LogSink(logger_provider))
    if "span_event" in wanted:
        sinks.append(SpanEventSink(tracer_provider))
    if on_result is not None:
        sinks.append(CallbackSink(on_result))
    return sinks
