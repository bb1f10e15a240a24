"""The root a partial run goes out with, its own root having never ended.

A trace evicted before its root ended (the time-to-live, the buffer's caps, a
flush) still goes out, as partial runs: each needs a root that is not one of
its own spans, or that span's own work (an LLM call, say) would be the run's
root rather than a step and vanish from the run. The missing parent as it is
now stands in when the nesting tracker still knows it; otherwise a synthetic
span named ``PARTIAL_ROOT_NAME`` that spans the run's time.
"""

from __future__ import annotations

from collections.abc import Callable

from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.trace import SpanContext, TraceFlags

from infinium_otel.export.trace_buffer import _Entry, _parent_id

__all__ = ["PARTIAL_ROOT_NAME", "LiveLookup", "stand_in_root"]

PARTIAL_ROOT_NAME = "partial run"

# A still-open span by span id (a partial run's missing root), when known.
LiveLookup = Callable[[int], "ReadableSpan | None"]


def stand_in_root(trace_id: int, taken: list[_Entry], live: LiveLookup | None) -> ReadableSpan:
    """The root of a partial run: its missing parent as it is now, or a synthetic span.

    Never one of the run's own spans: that span would then be the root and
    not a step, and its own work (an LLM call, say) would vanish from the run.
    """
    top = taken[0].span
    parent_id = _parent_id(top)
    if parent_id is None:
        return top  # a parentless span really is the top of its tree
    if live is not None:
        found = live(parent_id)
        if found is not None and found.context is not None:
            return found
    starts = [e.span.start_time for e in taken if e.span.start_time is not None]
    ends = [e.span.end_time for e in taken if e.span.end_time is not None]
    parent = top.parent
    return ReadableSpan(
        name=PARTIAL_ROOT_NAME,
        context=SpanContext(
            trace_id,
            parent_id,
            is_remote=False,
            trace_flags=parent.trace_flags if parent is not None else TraceFlags(1),
        ),
        resource=top.resource,
        attributes={},
        start_time=min(starts) if starts else None,
        end_time=max(ends) if ends else None,
        instrumentation_scope=top.instrumentation_scope,
    )
