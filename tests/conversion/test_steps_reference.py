"""The placement of spans into steps against the former one (``reference_steps.py``).

The current ``build_tree`` sorts by the facts' fields when every time is present and fills
in missing times otherwise; spans are generated with missing, equal and negative times,
missing and cyclic parents, transport spans and nested calls of one kind.
"""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.conventions.facts import SpanFacts
from infinium_otel.conventions.kind import SpanKind
from infinium_otel.payload.steps import RunTree, build_tree

from . import reference_steps

_TIME = st.one_of(st.none(), st.integers(min_value=-3, max_value=4))
_SPAN = st.tuples(
    st.sampled_from(list(SpanKind)),
    st.integers(min_value=0, max_value=9),  # parent id: 0 the root, else a span (itself, missing)
    _TIME,
    _TIME,
    st.booleans(),  # transport
    st.booleans(),  # failed
)


def _facts(index: int, spec: tuple[Any, ...]) -> SpanFacts:
    kind, parent, start, end, transport, failed = spec
    facts = SpanFacts(
        index + 1, parent, f"span {index}", kind, start, end, failed, None, None, None
    )
    facts.transport = transport
    facts.model = f"model {index}" if index % 3 else None
    return facts


def _shape(tree: RunTree | reference_steps.RunTree) -> Any:
    return (
        [
            (
                node.facts.span_id,
                node.number,
                node.depth,
                node.parent.number if node.parent is not None else None,
                [f.span_id for f in node.merged],
                [f.span_id for f in node.hidden],
                node.facts.model,
                node.facts.failed,
            )
            for node in tree.steps
        ],
        [(f.span_id, owner.number if owner is not None else None) for f, owner in tree.members],
        tree.parents,
    )


@settings(max_examples=400, deadline=None)
@given(
    st.sampled_from(list(SpanKind)),
    _TIME,
    _TIME,
    st.lists(_SPAN, max_size=9),
)
def test_steps_are_placed_and_ordered_as_before(
    root_kind: SpanKind, start: int | None, end: int | None, specs: list[tuple[Any, ...]]
) -> None:
    def made() -> tuple[SpanFacts, list[SpanFacts]]:
        root = SpanFacts(0, None, "root", root_kind, start, end, False, None, None, None)
        return root, [_facts(index, spec) for index, spec in enumerate(specs)]

    root, spans = made()
    now = _shape(build_tree(root, spans))
    root, spans = made()  # merging fills facts in: each reading gets its own
    before = _shape(reference_steps.build_tree(root, spans))
    assert now == before
