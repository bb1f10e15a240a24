"""How the gateway makes the SDK's span objects without their constructors' calls.

Decoding makes a ``SpanContext`` and a ``ReadableSpan`` per span; their
constructors are Python calls that check again what the decoder has checked. Each
shortcut here is used only while a check made once at import finds that what it
makes equals what the constructor makes; else the constructor is used. Apart from
``decode.py`` so that the hot loop stands alone and these checks beside the
shortcuts they guard.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import Event, ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import Link, SpanContext, SpanKind, Status, StatusCode, TraceFlags
from opentelemetry.trace.span import DEFAULT_TRACE_STATE

from infinium_otel.conventions.decoded_attributes import AttributeValue, SpanAttributes

__all__ = [
    "DIRECT",
    "PLAIN_CONTEXTS",
    "POSITIONAL",
    "AttributeValue",
    "SpanAttributes",
    "span_by_keyword",
    "span_fields_set_directly",
    "spans_can_be_made_directly",
]

SAMPLED = TraceFlags(TraceFlags.SAMPLED)
_new_tuple = tuple.__new__
_new_object = object.__new__


def contexts_are_plain_tuples() -> bool:
    """Whether a ``SpanContext`` is the tuple ``(trace_id, span_id, is_remote,
    trace_flags, trace_state, is_valid)``, so one whose ids are checked here already
    can be made without the SDK's ``__new__`` (a Python call that checks them again)."""
    try:
        made = _new_tuple(SpanContext, (1, 2, True, SAMPLED, DEFAULT_TRACE_STATE, True))
        official = SpanContext(1, 2, is_remote=True, trace_flags=SAMPLED)
        return (
            made == official
            and (made.trace_id, made.span_id, made.is_remote, made.is_valid) == (1, 2, True, True)
            and made.trace_flags is official.trace_flags
            and made.trace_state is official.trace_state
        )
    except Exception:  # another layout: the constructor is used
        return False


PLAIN_CONTEXTS = contexts_are_plain_tuples()


# ``ReadableSpan``'s parameters in the order this module passes them. A positional call
# costs less than half a call by keyword; used only while the SDK's signature starts
# with exactly these (checked once, here), else the keyword call.
_SPAN_PARAMETERS = (
    "name",
    "context",
    "parent",
    "resource",
    "attributes",
    "events",
    "links",
    "kind",
    "instrumentation_info",
    "status",
    "start_time",
    "end_time",
    "instrumentation_scope",
)
POSITIONAL = tuple(inspect.signature(ReadableSpan.__init__).parameters)[1:14] == _SPAN_PARAMETERS


def span_fields_set_directly(
    span: ReadableSpan,
    name: str,
    context: SpanContext | None,
    parent: SpanContext | None,
    resource: Resource,
    attributes: Any,
    events: Sequence[Event],
    links: Sequence[Link],
    kind: SpanKind,
    status: Status,
    start_time: int,
    end_time: int,
    scope: InstrumentationScope | None,
) -> None:
    """The fields ``ReadableSpan.__init__`` sets, in its order (the reference for the
    inline copy in ``_Reader.span`` and for the check below)."""
    span._name = name
    span._context = context
    span._kind = kind
    span._instrumentation_info = None
    span._instrumentation_scope = scope
    span._parent = parent
    span._start_time = start_time
    span._end_time = end_time
    span._attributes = attributes
    span._events = events
    span._links = links
    span._resource = resource
    span._status = status


def spans_can_be_made_directly() -> bool:
    """Whether a ``ReadableSpan`` made without its constructor, by setting the fields
    above, equals one the constructor makes (same fields, same values, same order, no
    other state): then the decoder makes spans so, without a Python call per span."""
    try:
        values = (
            "n",
            SpanContext(1, 2, is_remote=False, trace_flags=SAMPLED),
            SpanContext(1, 3, is_remote=True, trace_flags=SAMPLED),
            Resource({"r": 1}),
            SpanAttributes({"a": 1}),
            (Event("e", {}, 5),),
            (Link(SpanContext(4, 5, is_remote=False)),),
            SpanKind.CLIENT,
            Status(StatusCode.ERROR, "m"),
            5,
            6,
            InstrumentationScope("s"),
        )
        official = span_by_keyword(*values)
        made = _new_object(ReadableSpan)
        span_fields_set_directly(made, *values)
        return (
            type(made) is ReadableSpan
            and list(vars(made).items()) == list(vars(official).items())
            and all(vars(made)[key] is vars(official)[key] for key in vars(official))
            and (made.name, made.context, made.parent, made.resource, made.attributes)
            == (official.name, official.context, official.parent, official.resource, {"a": 1})
            and (made.kind, made.status, made.start_time, made.end_time, made.events)
            == (official.kind, official.status, 5, 6, official.events)
            and made.instrumentation_scope is official.instrumentation_scope
        )
    except Exception:  # another SDK: the constructor is used
        return False


def span_by_keyword(
    name: str,
    context: SpanContext,
    parent: SpanContext | None,
    resource: Resource,
    attributes: SpanAttributes,
    events: Sequence[Event],
    links: Sequence[Link],
    kind: SpanKind,
    status: Status,
    start_time: int,
    end_time: int,
    scope: InstrumentationScope,
) -> ReadableSpan:
    """The span by keyword, for an SDK whose parameters are in another order."""
    return ReadableSpan(
        name=name,
        context=context,
        parent=parent,
        resource=resource,
        attributes=attributes,
        events=events,
        links=links,
        kind=kind,
        status=status,
        start_time=start_time,
        end_time=end_time,
        instrumentation_scope=scope,
    )


DIRECT = spans_can_be_made_directly()
