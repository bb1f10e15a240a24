"""A run's span tree as Infinium steps: which spans are steps, their order, depth and parent.

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
import operator
from collections.abc import Iterable

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import SpanKind

__all__ = ["RunTree", "StepNode", "build_tree"]

_CALL_KINDS = frozenset(
    {SpanKind.LLM, SpanKind.TOOL, SpanKind.EMBEDDING, SpanKind.RETRIEVAL, SpanKind.RERANK}
)
_SAME_CALL_KINDS = frozenset({SpanKind.LLM, SpanKind.EMBEDDING})


# A step's merged and hidden spans: nearly always none, so every step starts with this one
# empty tuple and gets a list of its own only when a span is added (_add_merged, _add_hidden).
_NONE: tuple[SpanFacts, ...] = ()


@dataclasses.dataclass(slots=True, eq=False, init=False)
class StepNode:
    facts: SpanFacts
    parent: StepNode | None
    depth: int
    number: int
    merged: list[SpanFacts] | tuple[SpanFacts, ...]
    hidden: list[SpanFacts] | tuple[SpanFacts, ...]

    def __init__(
        self,
        facts: SpanFacts,
        parent: StepNode | None,
        depth: int,
        number: int = 0,
        merged: list[SpanFacts] | None = None,
        hidden: list[SpanFacts] | None = None,
    ) -> None:
        # Written out: the generated one calls a factory for each list (one node per step).
        self.facts = facts
        self.parent = parent
        self.depth = depth
        self.number = number
        self.merged = _NONE if merged is None else merged
        self.hidden = _NONE if hidden is None else hidden


_new = object.__new__


def _step_node(facts: SpanFacts, parent: StepNode | None, depth: int) -> StepNode:
    """``StepNode(facts, parent, depth)``, without the call to its ``__init__``."""
    node: StepNode = _new(StepNode)
    node.facts = facts
    node.parent = parent
    node.depth = depth
    node.number = 0
    node.merged = node.hidden = _NONE
    return node


def _add_hidden(owner: StepNode, facts: SpanFacts) -> None:
    hidden = owner.hidden
    if type(hidden) is list:
        hidden.append(facts)
    else:
        owner.hidden = [facts]


def _add_merged(owner: StepNode, facts: SpanFacts) -> None:
    merged = owner.merged
    if type(merged) is list:
        merged.append(facts)
    else:
        owner.merged = [facts]


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


# The sort keys of spans and steps when every time is present: (start, end, span id) and
# (start, depth, end, span id). A missing time (None) makes the comparison raise TypeError,
# and the keys are then made with the missing times filled in (_keyed).
_TIMES = operator.attrgetter("start", "end", "span_id")
_STEP_TIMES = operator.attrgetter("facts.start", "depth", "facts.end", "facts.span_id")
_STEP_START = operator.attrgetter("facts.start")
_LESS = operator.lt


def _keyed(spans: Iterable[SpanFacts]) -> list[tuple[int, int, int, SpanFacts]]:
    """(start, end, span id, span): a missing start is 0, a missing end the start."""
    keyed = []
    for facts in spans:
        start = facts.start
        if start is None:
            start = 0
        end = facts.end
        keyed.append((start, start if end is None else end, facts.span_id, facts))
    return keyed


def build_tree(root: SpanFacts, spans: Iterable[SpanFacts]) -> RunTree:
    """Place every span of the run: a step, merged into a step, hidden inside one, or the root."""
    by_id: dict[int, SpanFacts] = {}
    root_id = root.span_id
    for facts in spans:
        span_id = facts.span_id
        if span_id != root_id:
            by_id.setdefault(span_id, facts)
    places: dict[int, _Place] = {root_id: _OUTSIDE}
    steps: list[StepNode] = []
    # Whether the steps are made in the order of the spans' (start, end, span id) sort: then,
    # when no two start together, that is already the steps' own order.
    in_order = True
    if root.kind in _CALL_KINDS:
        in_order = False
        # The call is the run's work: without a step of its own the run would show none.
        root_step = StepNode(root, None, 1)
        steps.append(root_step)
        places[root.span_id] = (root_step, False)
    # Sorted by start, then end, then span id; the keys are made inline (span ids are
    # distinct, so the spans themselves are never compared).
    try:
        # Ended spans (nearly all) have both times: their fields are the key, read in C.
        ordered = sorted(by_id.values(), key=_TIMES)
    except TypeError:  # a time is missing (None): in its place 0, or the start for the end
        ordered = [item[3] for item in sorted(_keyed(by_id.values()))]
        in_order = False
    get_place = places.get
    for facts in ordered:
        span_id = facts.span_id
        if span_id in places:
            continue
        parent_id = facts.parent_id
        above = get_place(parent_id) if parent_id is not None else None
        if above is None:
            _place(facts, by_id, places, steps)
            in_order = False  # ancestors placed before their turn
            continue
        # The common case: the parent started first, so is placed (as _place_one, inline).
        owner, hidden = above
        if owner is None:
            node = _step_node(facts, None, 1)
            steps.append(node)
            places[span_id] = (node, False)
        elif hidden or (facts.transport and owner.facts.kind in _CALL_KINDS):
            _add_hidden(owner, facts)
            places[span_id] = above if hidden else (owner, True)
        elif facts.kind is owner.facts.kind and facts.kind in _SAME_CALL_KINDS:
            owner.facts.fill_from(facts)
            _add_merged(owner, facts)
            places[span_id] = (owner, False)
        else:
            node = _step_node(facts, owner, owner.depth + 1)
            steps.append(node)
            places[span_id] = (node, False)
    # A step that starts in the same instant as its parent (a coarse clock) still follows it:
    # ordered by start, depth, end, then span id.
    if in_order:
        # Each step starting after the one before (a missing start never does): the sort
        # would find one ascending run and keep it; else two start together, and the depth
        # orders them.
        starts = list(map(_STEP_START, steps))
        try:
            in_order = all(map(_LESS, starts, starts[1:]))
        except TypeError:  # a start is missing
            in_order = False
    if not in_order:
        _sort_steps(steps)
    for number, node in enumerate(steps, start=1):
        node.number = number
    members: list[tuple[SpanFacts, StepNode | None]] = [(root, places[root.span_id][0])]
    members.extend([(facts, places[facts.span_id][0]) for facts in ordered])
    parents = {f.span_id: f.parent_id for f in ordered}
    parents[root.span_id] = None
    return RunTree(root, steps, members, parents)


def _sort_steps(steps: list[StepNode]) -> None:
    """Steps in place by start, depth, end, then span id (a missing start is 0, a missing end
    the start)."""
    try:
        steps.sort(key=_STEP_TIMES)
    except TypeError:  # a time is missing
        keyed_steps = []
        for node in steps:
            facts = node.facts
            start = facts.start
            if start is None:
                start = 0
            end = facts.end
            keyed_steps.append(
                (start, node.depth, start if end is None else end, facts.span_id, node)
            )
        keyed_steps.sort()
        steps[:] = [item[4] for item in keyed_steps]


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
            _add_hidden(owner, facts)
            return above
        owner_kind = owner.facts.kind
        if facts.transport and owner_kind in _CALL_KINDS:
            _add_hidden(owner, facts)
            return (owner, True)
        if facts.kind is owner_kind and owner_kind in _SAME_CALL_KINDS:
            owner.facts.fill_from(facts)
            _add_merged(owner, facts)
            return (owner, False)
    node = StepNode(facts, owner, owner.depth + 1 if owner is not None else 1)
    steps.append(node)
    return (node, False)
