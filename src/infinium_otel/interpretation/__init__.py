"""Bring Maestro's interpretation of each delivered run back into your telemetry.

See docs/interpretation.md.
"""

from infinium_otel.interpretation.evaluation import EVALUATION_EVENT_NAME
from infinium_otel.interpretation.outcome import (
    InterpretationOutcome,
    InterpretationRequest,
    OutcomeStatus,
)
from infinium_otel.interpretation.processor import InterpretationProcessor
from infinium_otel.interpretation.sinks import EVENT_NAME, LOGGER_NAME, SCOPE_NAME, SPAN_NAME

__all__ = [
    "EVALUATION_EVENT_NAME",
    "EVENT_NAME",
    "LOGGER_NAME",
    "SCOPE_NAME",
    "SPAN_NAME",
    "InterpretationOutcome",
    "InterpretationProcessor",
    "InterpretationRequest",
    "OutcomeStatus",
]
