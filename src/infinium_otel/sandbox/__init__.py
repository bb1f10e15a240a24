"""A local Infinium-compatible server: the demo's default endpoint and every test's target."""

from infinium_otel.sandbox.faults import Fault, FaultQueue
from infinium_otel.sandbox.server import (
    SANDBOX_AGENT_ID,
    SANDBOX_AGENT_SECRET,
    RecordedRequest,
    Sandbox,
)
from infinium_otel.sandbox.store import StoredTrace
from infinium_otel.sandbox.validation import validate_trace_payload

__all__ = [
    "SANDBOX_AGENT_ID",
    "SANDBOX_AGENT_SECRET",
    "Fault",
    "FaultQueue",
    "RecordedRequest",
    "Sandbox",
    "StoredTrace",
    "validate_trace_payload",
]
