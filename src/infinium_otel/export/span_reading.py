"""What run assembly reads of each span: its ids, parent link, attributes and
whether the package made it.

Assembly reads this of every span it receives, so it is read the fast way where
checks made at import allow it: the contexts indexed as the tuples their type
declares (``span_context_layout``), and the fields behind ``ReadableSpan``'s
properties where the span's class keeps them (``span_fields``). The reading
through the properties is the general one; the fast readings must agree with it
(the tests hold them to it). Pure: no state, no I/O.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from infinium_otel.conventions.facts import span_attributes
from infinium_otel.export.span_context_layout import CONTEXT_IS_TUPLE
from infinium_otel.export.span_fields import KNOWN_CLASSES, SCOPE_NAME_IS_FIELD, reads_fields

__all__ = [
    "INTERNAL_SCOPE",
    "SpanLinks",
    "SpanRead",
    "is_internal_span",
    "links",
    "links_by_index",
    "links_by_property",
    "read_span",
    "read_span_by_property",
]

INTERNAL_SCOPE = "infinium_otel.interpretation"

# A span's trace id, span id, parent id (None: a root) and whether it is a local root.
SpanLinks = tuple[int, int, int | None, bool]
# ``SpanLinks``, then the span's attributes (read-only) and whether the package made it.
SpanRead = tuple[int, int, int | None, bool, Mapping[str, Any], bool]


def is_internal_span(span: ReadableSpan) -> bool:
    """Spans the package makes itself (interpretation results) never become runs."""
    return _is_internal(span, span_attributes(span))


def _is_internal(span: ReadableSpan, attributes: Mapping[str, Any]) -> bool:
    scope = span.instrumentation_scope
    if scope is not None and scope.name == INTERNAL_SCOPE:
        return True
    return attributes.get("infinium.internal") is True


def links_by_property(span: ReadableSpan) -> SpanLinks | None:
    """(trace id, span id, parent id, local root) of a span with a valid context, else None.

    The parent id is None for no parent, an invalid one, or a span claiming itself as
    its parent (a root). The SDK's context and parent are properties, their ids too:
    each is read once."""
    context = span.context
    if context is None or not context.is_valid:
        return None
    span_id = context.span_id
    parent = span.parent
    if parent is None:
        return context.trace_id, span_id, None, True
    valid = parent.is_valid
    parent_id = parent.span_id if valid and parent.span_id != span_id else None
    return context.trace_id, span_id, parent_id, not valid or parent.is_remote


def links_by_index(span: ReadableSpan) -> SpanLinks | None:
    """``links_by_property``, reading the contexts as the tuples their type declares
    (``span_context_layout``): two property calls per span instead of up to nine."""
    context = span.context
    if context is None:
        return None
    trace_id, span_id, _, _, _, valid = context
    if not valid:
        return None
    parent = span.parent
    if parent is None:
        return trace_id, span_id, None, True
    _, parent_span_id, remote, _, _, parent_valid = parent
    parent_id = parent_span_id if parent_valid and parent_span_id != span_id else None
    return trace_id, span_id, parent_id, not parent_valid or remote


links = links_by_index if CONTEXT_IS_TUPLE else links_by_property


def read_span_by_property(span: ReadableSpan) -> SpanRead | None:
    """What assembly reads of a span with a valid context (``links``, its attributes,
    whether it is internal), else None."""
    span_links = links(span)
    if span_links is None:
        return None
    attributes = span_attributes(span)
    return (*span_links, attributes, _is_internal(span, attributes))


def read_span(span: ReadableSpan) -> SpanRead | None:
    """``read_span_by_property``, reading the fields behind the properties where the
    span's class keeps ``ReadableSpan``'s (``span_fields``): one Python call per span
    instead of about ten."""
    plain = KNOWN_CLASSES.get(type(span))
    if not (plain if plain is not None else reads_fields(type(span))):
        return read_span_by_property(span)
    context = span._context
    if context is None:
        return None
    trace_id, span_id, _, _, _, valid = context
    if not valid:
        return None
    parent = span._parent
    if parent is None:
        parent_id = None
        local_root = True
    else:
        _, parent_span_id, remote, _, _, parent_valid = parent
        parent_id = parent_span_id if parent_valid and parent_span_id != span_id else None
        local_root = not parent_valid or remote
    held = getattr(span, "_attributes", None)
    inner = (
        (held._dict if type(held) is BoundedAttributes else getattr(held, "_dict", None))
        if span._end_time is not None
        else None
    )
    attributes = inner if type(inner) is dict else span_attributes(span)
    scope = span._instrumentation_scope
    if scope is None:
        internal = False
    elif SCOPE_NAME_IS_FIELD and type(scope) is InstrumentationScope:
        internal = scope._name == INTERNAL_SCOPE
    else:
        internal = scope.name == INTERNAL_SCOPE
    if not internal:
        internal = attributes.get("infinium.internal") is True
    return trace_id, span_id, parent_id, local_root, attributes, internal
