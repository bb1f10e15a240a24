"""Whether the SDK's span, status and scope keep their values in the fields conversion reads.

``read_span`` reads an SDK span's private fields (``_context``, ``_attributes``,
``_events``...) rather than calling a property per fact, a large part of its
cost per span. Those names are the SDK's, not a promise: this check, made once
at import on a span built by the SDK itself, sees that every field holds what
its property returns; where it does not (another SDK version), conversion reads
the public properties as any other span's.
"""

from __future__ import annotations

from typing import Any, Final

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import Event, ReadableSpan, _Span
from opentelemetry.sdk.util import BoundedList
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, Status, StatusCode

__all__ = ["SCOPE_FIELDS_HOLD", "SDK_FIELDS_HOLD", "STATUS_FIELDS_HOLD"]


def _status_fields_hold() -> bool:
    try:
        status: Any = Status(StatusCode.ERROR, "broke")
        return (
            status._status_code is status.status_code is StatusCode.ERROR
            and status._description == status.description == "broke"
        )
    except Exception:  # another API version: the public properties are read
        return False


def _scope_fields_hold() -> bool:
    try:
        scope: Any = InstrumentationScope("check", "1")
        return (scope._name, scope._version) == (scope.name, scope.version) == ("check", "1")
    except Exception:  # another SDK version: the public properties are read
        return False


def _span_fields_hold() -> bool:
    try:
        context = SpanContext(1, 2, False)
        parent = SpanContext(1, 3, False)
        scope = InstrumentationScope("check", "1")
        span: Any = _Span(
            "checked",
            context,
            parent=parent,
            attributes={"key": "value"},
            events=[Event("happened")],
            instrumentation_scope=scope,
        )
        span.start(start_time=10)
        span.set_status(Status(StatusCode.ERROR, "broke"))
        span.end(end_time=20)
        readable: Any = span._readable_span()
        for made in (span, readable):
            events: Any = made._events
            attributes: Any = made._attributes
            events_type = type(events)  # compared by name: no narrowing hides the deque
            if not (
                made._context is made.context
                and made._parent is made.parent
                and made._instrumentation_scope is made.instrumentation_scope
                and made._status is made.status
                and made._name == made.name == "checked"
                and (made._start_time, made._end_time) == (made.start_time, made.end_time)
                and (made._start_time, made._end_time) == (10, 20)
                and events_type is BoundedList
                and len(events._dq) == len(made.events) == 1
                and type(attributes) is BoundedAttributes
                and type(attributes._dict) is dict
                and attributes._dict == dict(made.attributes) == {"key": "value"}
            ):
                return False
        return type(readable) is ReadableSpan
    except Exception:  # another SDK version: the public properties are read
        return False


SDK_FIELDS_HOLD: Final = _span_fields_hold()
STATUS_FIELDS_HOLD: Final = _status_fields_hold()
SCOPE_FIELDS_HOLD: Final = _scope_fields_hold()
