"""Whether a span's class reads its context, parent, end, attributes and scope from
the fields ``ReadableSpan`` sets, so assembly can read those fields directly.

Each of those is a property (a Python call) on the SDK's spans; assembly reads five
of them per span. Where a class keeps ``ReadableSpan``'s own properties, and a check
made at import sees each of them answer its field, the field is the answer. A class
that overrides any of them, or an SDK whose properties read something else, is read
through its properties.
"""

from __future__ import annotations

import inspect
from typing import Final

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext

from infinium_otel.export.span_context_layout import CONTEXT_IS_TUPLE

__all__ = ["KNOWN_CLASSES", "SCOPE_NAME_IS_FIELD", "reads_fields"]

# Property -> the field ``ReadableSpan``'s property returns.
_FIELDS: Final = {
    "context": "_context",
    "parent": "_parent",
    "end_time": "_end_time",
    "instrumentation_scope": "_instrumentation_scope",
}
# Read too, though not compared with a field: ``span_attributes`` reads ``_attributes``.
_ALSO_KEPT: Final = ("attributes",)
# At most this many span classes are remembered (a process sees a handful).
_MAX_CLASSES: Final = 64


def _properties_read_fields() -> bool:
    try:
        scope = InstrumentationScope("fields-check")
        context = SpanContext(1, 2, False)
        parent = SpanContext(1, 3, True)
        span = ReadableSpan(
            name="fields-check",
            context=context,
            parent=parent,
            end_time=5,
            instrumentation_scope=scope,
        )
        return (
            span.context is span._context is context
            and span.parent is span._parent is parent
            and span.end_time == span._end_time == 5
            and span.instrumentation_scope is span._instrumentation_scope is scope
        )
    except Exception:  # another SDK version: spans are read through their properties
        return False


def _scope_name_is_field() -> bool:
    try:
        scope = InstrumentationScope("fields-check")
        return scope.name is scope._name == "fields-check"
    except Exception:
        return False


_SDK_READS_FIELDS: Final = CONTEXT_IS_TUPLE and _properties_read_fields()
# ``InstrumentationScope.name`` answers its ``_name`` (for that exact class).
SCOPE_NAME_IS_FIELD: Final = _scope_name_is_field()

# ``reads_fields``' answers by class, for a hot path to look up before calling it.
KNOWN_CLASSES: dict[type, bool] = {}


def reads_fields(cls: type) -> bool:
    """True when spans of ``cls`` answer ``context``, ``parent``, ``end_time`` and
    ``instrumentation_scope`` (and ``attributes``) with ``ReadableSpan``'s properties,
    and those read their fields (the contexts being tuples, ``span_context_layout``)."""
    known = KNOWN_CLASSES.get(cls)
    if known is None:
        known = _SDK_READS_FIELDS and _keeps_properties(cls)
        if len(KNOWN_CLASSES) < _MAX_CLASSES:
            KNOWN_CLASSES[cls] = known
    return known


def _keeps_properties(cls: type) -> bool:
    try:
        return issubclass(cls, ReadableSpan) and all(
            inspect.getattr_static(cls, name) is inspect.getattr_static(ReadableSpan, name)
            for name in (*_FIELDS, *_ALSO_KEPT)
        )
    except Exception:
        return False
