"""One trace's not-yet-sent spans, as the assembler holds them.

The assembler decides when spans become a run; this module only keeps them:
each span with its kind and estimated size, indexed by span id and by parent,
so a subtree can be taken out and a held agent span's place read off the
finished tree. The size estimate lives here because the buffer's byte cap is
counted with it (the gateway's grouper uses it too).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from opentelemetry.sdk.trace import ReadableSpan

from infinium_otel.conventions import SpanKind
from infinium_otel.export.nesting import Nesting

__all__ = ["estimate_span_bytes"]

# Rough CPython sizes: a finished SDK span with its context, resource reference and
# attribute mapping; an event; a string, list or number held in an attribute.
_SPAN_BYTES = 2_300
_EVENT_BYTES = 400
_VALUE_BYTES = 60


def estimate_span_bytes(span: ReadableSpan, attributes: Mapping[str, Any] | None = None) -> int:
    """A cheap estimate of the memory a finished span holds: its attributes and events."""
    size = _SPAN_BYTES + _mapping_bytes(attributes if attributes is not None else span.attributes)
    events = getattr(span, "_events", None)  # the SDK's own list: no copy
    if events is None:
        events = span.events
    if len(events):
        for event in events:
            size += _EVENT_BYTES + _mapping_bytes(event.attributes)
    return size


def _mapping_bytes(attributes: Mapping[str, Any] | None) -> int:
    """Attribute keys are shared between spans; the values are what each span adds."""
    if not attributes:
        return 0
    size = _VALUE_BYTES * len(attributes)
    for value in attributes.values():
        kind = type(value)
        if kind is str or kind is bytes:
            size += len(value)
        elif kind is tuple or kind is list:
            for item in value:
                size += _VALUE_BYTES + (len(item) if type(item) is str else 0)
    return size


@dataclasses.dataclass(slots=True)
class _Entry:
    span: ReadableSpan
    kind: SpanKind
    size: int
    span_id: int  # read once from the span's context (a property of a property)


class _TraceBuffer:
    """The not-yet-sent spans of one trace, indexed by span id and by parent.

    The assembler files each span in ``entries`` and ``children`` itself (its loop
    over a batch's spans runs once per span, where a call costs as much as the filing).
    """

    __slots__ = ("children", "dropped", "entries", "held", "last_activity")

    def __init__(self, now: float) -> None:
        self.entries: dict[int, _Entry] = {}
        self.children: dict[int, list[int]] = {}
        # Agent spans whose place (run root or sub-agent) waits for their ancestors:
        # span id -> when it arrived.
        self.held: dict[int, float] = {}
        self.last_activity = now
        self.dropped = 0

    def take_subtree(self, root_id: int) -> list[_Entry]:
        """Remove and return ``root_id`` and every buffered descendant."""
        entries = self.entries
        children = self.children
        held = self.held
        taken: list[_Entry] = []
        stack = [root_id]
        while stack:
            span_id = stack.pop()
            entry = entries.pop(span_id, None)
            if entry is not None:
                taken.append(entry)
                if held:
                    held.pop(span_id, None)
            kids = children.pop(span_id, None)
            if kids is not None:
                stack += kids
        return taken

    def place_of(self, span_id: int) -> Nesting | None:
        """Where the finished tree puts a held agent span: under an agent (``NESTED``),
        at the top of an ended local tree (``TOP``), or not known yet (None)."""
        entry = self.entries.get(span_id)
        current = _parent_id(entry.span) if entry is not None else None
        for _ in range(len(self.entries)):  # a bound that also ends parent-link cycles
            if current is None:
                return None
            above = self.entries.get(current)
            if above is None:
                return None  # an ancestor has not ended yet
            if above.kind.encloses_agents:
                return Nesting.NESTED  # its run is the enclosing agent's, or the chain's tree
            if _is_local_root(above.span):
                return Nesting.TOP
            current = _parent_id(above.span)
        return None

    def top_level_groups(self) -> list[list[int]]:
        """The roots of what is left: each parentless span alone, and siblings whose
        parent never arrived together (they belong to the same missing span)."""
        child_ids = {cid for kids in self.children.values() for cid in kids}
        groups = [[sid] for sid in self.entries if sid not in child_ids]
        for pid, kids in self.children.items():
            if pid not in self.entries:
                present = sorted(
                    (cid for cid in kids if cid in self.entries),
                    key=lambda cid: self.entries[cid].span.start_time or 0,
                )
                if present:
                    groups.append(present)
        return groups


def _parent_id(span: ReadableSpan) -> int | None:
    parent = span.parent
    if parent is None or not parent.is_valid:
        return None
    context = span.context
    if context is not None and parent.span_id == context.span_id:
        return None  # a span claiming itself as parent: treat it as a root
    return parent.span_id


def _is_local_root(span: ReadableSpan) -> bool:
    parent = span.parent
    return parent is None or not parent.is_valid or parent.is_remote
