"""The former placement of spans into steps (frozen copy), to compare the current one with.

A run's span tree as Infinium steps: which spans are steps, their order, depth and parent.

Rules: every descendant of the run root is a step (and the root itself when it
is a call: a run made of one LLM or tool call with no agent around it), except
- a transport span (HTTP, database, RPC client) nested inside an LLM, tool,
  embedding or retrieval step, and anything nested inside such a span;
- an LLM (or embedding) span whose nearest step ancestor is an LLM (or
  embedding) span: two instrumentations wrapping the same client call. It is
  merged into that step (the outer span's facts win, the inner fills gaps).
Steps are ordered by start time, then depth (a parent before a child that starts in
the same instant), then end time, then span id.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import SpanKind

__all__ = ["RunTree", "StepNode", "build_tree"]

_CALL_KINDS = frozenset(
    {SpanKind.LLM, SpanKind.TOOL, SpanKind.EMBEDDING, SpanKind.RETRIEVAL, SpanKind.RERANK}
)
_SAME_CALL_KINDS = frozenset({SpanKind.LLM, SpanKind.EMBEDDING})


@dataclasses.dataclass(slots=True, eq=False)
class StepNode:
    facts: SpanFacts
    parent: StepNode | None
    depth: int
    number: int = 0
    merged: list[SpanFacts] = dataclasses.field(default_factory=list)
    hidden: list[SpanFacts] = dataclasses.field(default_factory=list)


@dataclasses.dataclass(slots=True)
class RunTree:
    root: SpanFacts
    steps: list[StepNode]
    # Every span of the run (root first, then by start time) with the step that stands for it
    # (None for spans outside any step, and for the root unless it is a call).
    members: list[tuple[SpanFacts, StepNode | None]]
    parents: dict[int, int | None]


# Where a span went: the step that stands for it (None outside any step), and whether it is
# hidden inside that step. A plain tuple: one is made for every span of every run.
_Place = tuple[StepNode | None, bool]
_OUTSIDE: _Place = (None, False)


def _order_key(facts: SpanFacts) -> tuple[int, int, int]:
    start = facts.start if facts.start is not None else 0
    end = facts.end if facts.end is not None else start
    return (start, end, facts.span_id)


def _step_order(node: StepNode) -> tuple[int, int, int, int]:
    start, end, span_id = _order_key(node.facts)
    return (start, node.depth, end, span_id)


def build_tree(root: SpanFacts, spans: Iterable[SpanFacts]) -> RunTree:
    """Place every span of the run: a step, merged into a step, hidden inside one, or the root."""
    by_id: dict[int, SpanFacts] = {}
    for facts in spans:
        if facts.span_id != root.span_id:
            by_id.setdefault(facts.span_id, facts)
    places: dict[int, _Place] = {root.span_id: _OUTSIDE}
    steps: list[StepNode] = []
    if root.kind in _CALL_KINDS:
        # The call is the run's work: without a step of its own the run would show none.
        root_step = StepNode(root, None, 1)
        steps.append(root_step)
        places[root.span_id] = (root_step, False)
    ordered = sorted(by_id.values(), key=_order_key)
    for facts in ordered:
        if facts.span_id in places:
            continue
        above = places.get(facts.parent_id) if facts.parent_id is not None else None
        if above is not None:  # the common case: the parent started first, so is placed
            places[facts.span_id] = _place_one(facts, above, steps)
        else:
            _place(facts, by_id, places, steps)
    # A step that starts in the same instant as its parent (a coarse clock) still follows it.
    steps.sort(key=_step_order)
    for number, node in enumerate(steps, start=1):
        node.number = number
    members: list[tuple[SpanFacts, StepNode | None]] = [(root, places[root.span_id][0])]
    members.extend((facts, places[facts.span_id][0]) for facts in ordered)
    parents = {f.span_id: f.parent_id for f in ordered}
    parents[root.span_id] = None
    return RunTree(root, steps, members, parents)


def _place(
    facts: SpanFacts,
    by_id: dict[int, SpanFacts],
    places: dict[int, _Place],
    steps: list[StepNode],
) -> None:
    # Walk up to the first placed ancestor (or a missing one), then place downwards.
    chain = [facts]
    seen = {facts.span_id}
    current = facts
    while True:
        parent_id = current.parent_id
        if parent_id is None or parent_id in places or parent_id not in by_id:
            break
        if parent_id in seen:  # a cycle: treat the top as hanging off the root
            break
        current = by_id[parent_id]
        seen.add(parent_id)
        chain.append(current)
    top_parent = chain[-1].parent_id
    above = places.get(top_parent) if top_parent is not None else None
    if above is None:
        above = _OUTSIDE
    for span in reversed(chain):
        if span.span_id in places:
            above = places[span.span_id]
            continue
        place = _place_one(span, above, steps)
        places[span.span_id] = place
        above = place


def _place_one(facts: SpanFacts, above: _Place, steps: list[StepNode]) -> _Place:
    owner, hidden = above
    if owner is not None:
        if hidden:
            owner.hidden.append(facts)
            return above
        owner_kind = owner.facts.kind
        if facts.transport and owner_kind in _CALL_KINDS:
            owner.hidden.append(facts)
            return (owner, True)
        if facts.kind is owner_kind and owner_kind in _SAME_CALL_KINDS:
            owner.facts.fill_from(facts)
            owner.merged.append(facts)
            return (owner, False)
    node = StepNode(facts, owner, owner.depth + 1 if owner is not None else 1)
    steps.append(node)
    return (node, False)
