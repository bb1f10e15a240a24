"""What goes into the poller (a request) and what comes out of it (an outcome)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["InterpretationOutcome", "InterpretationRequest", "OutcomeStatus"]

OutcomeStatus = Literal["ready", "timed_out", "failed"]


@dataclass(frozen=True)
class InterpretationRequest:
    """One delivered run whose interpretation should be fetched.

    ``otel_trace_id`` and ``otel_span_id`` identify the run's root span, so the
    result can be tied back to the run in the user's own telemetry.
    """

    infinium_trace_id: str
    otel_trace_id: int
    otel_span_id: int
    agent_name: str | None = None
    service_name: str | None = None
    agent_id: str | None = None  # the routed agent that submitted it; None: the default one


@dataclass(frozen=True)
class InterpretationOutcome:
    """The end of one request: Maestro's result, or why there is none.

    ``result`` is ``interpretedTraceResult`` as Maestro returned it (text or
    structured) when ``status`` is ``"ready"``, else ``None``; ``message`` says
    what happened in words; ``attempts`` counts the polls made and ``elapsed``
    the seconds since the request was submitted. ``error_type`` names what went
    wrong for a failed or timed-out run in a few stable words (``timeout``, an
    exception class name), for ``error.type`` on the evaluation records.
    """

    status: OutcomeStatus
    infinium_trace_id: str
    otel_trace_id: int
    otel_span_id: int
    agent_name: str | None
    service_name: str | None
    result: str | dict[str, Any] | list[Any] | None
    message: str
    attempts: int
    elapsed: float
    error_type: str | None = None

    @property
    def trace_id_hex(self) -> str:
        """The run's OpenTelemetry trace id as 32 lowercase hex digits."""
        return format(self.otel_trace_id, "032x")

    @property
    def span_id_hex(self) -> str:
        """The run root's OpenTelemetry span id as 16 lowercase hex digits."""
        return format(self.otel_span_id, "016x")

    @classmethod
    def for_request(
        cls,
        request: InterpretationRequest,
        *,
        status: OutcomeStatus,
        result: str | dict[str, Any] | list[Any] | None = None,
        message: str,
        attempts: int,
        elapsed: float,
        error_type: str | None = None,
    ) -> InterpretationOutcome:
        """An outcome that carries the request's identifiers."""
        return cls(
            status=status,
            infinium_trace_id=request.infinium_trace_id,
            otel_trace_id=request.otel_trace_id,
            otel_span_id=request.otel_span_id,
            agent_name=request.agent_name,
            service_name=request.service_name,
            result=result,
            message=message,
            attempts=attempts,
            elapsed=elapsed,
            error_type=error_type,
        )
