"""A root the common reader takes carries no ``infinium.*`` attribute, so conversion does not
look for a description, an expected outcome or sections on it; the description's counts are
written in one string. Each is held here to the former conversion."""

from __future__ import annotations

import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.conventions.common import COVERED_NAMES, common_facts
from infinium_otel.payload import convert
from infinium_otel.payload.run import Run

from . import reference_convert
from .builder import BASE_NS, MS, Trace


def _run(root_attributes: dict[str, Any]) -> Run:
    trace = Trace({"service.name": "support"})
    root = trace.start(
        "invoke_agent helper",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "helper"} | root_attributes,
    )
    trace.span(
        "chat gpt-4o",
        {"gen_ai.operation.name": "chat", "gen_ai.request.model": "gpt-4o"},
        parent=root,
        at=1,
        until=5,
    )
    trace.span(
        "execute_tool lookup",
        {"gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": "lookup"},
        parent=root,
        at=6,
        until=8,
    )
    root.end(end_time=BASE_NS + 10 * MS)
    return trace.run(root)


def test_no_name_the_common_reader_covers_is_an_infinium_one() -> None:
    assert not [name for name in COVERED_NAMES if name.startswith("infinium.")]


@pytest.mark.parametrize(
    "given_attributes",
    [
        {},
        {"infinium.description": "Answers parcel questions"},
        {
            "infinium.expected_outcome.task_objective": "Find the parcel",
            "infinium.expected_outcome.required_tools": ("lookup",),
        },
        {"infinium.section.general.tools_used": ("crm",)},
        {"infinium.section.time_tracking.start_time": "2024-01-01T00:00:00Z"},
        {"infinium.section.customer.customer_name": "Ada"},
    ],
)
def test_a_roots_infinium_attributes_show_as_before(given_attributes: dict[str, Any]) -> None:
    run = _run(given_attributes)
    # Any infinium.* name sends the root to the general reader, which looks for them all.
    assert (common_facts(run.root) is None) == bool(given_attributes)
    shown = json.dumps(convert.convert_run(run))
    assert shown == json.dumps(reference_convert.convert_run(run))
    for value in given_attributes.values():
        assert (value if isinstance(value, str) else value[0]) in shown


@settings(max_examples=200, deadline=None)
@given(
    st.integers(0, 3),
    st.integers(0, 3),
    st.integers(0, 3),
    st.sampled_from([SimpleNamespace(failed=False), SimpleNamespace(failed=True)]),
)
def test_a_description_counts_as_before(steps: int, llm: int, tools: int, failed: Any) -> None:
    kinds: Any = SimpleNamespace(steps=steps, llm_calls=llm, tool_calls=tools)
    root: Any = SimpleNamespace(kind=convert.SpanKind.AGENT, failed=failed.failed)
    run: Any = SimpleNamespace(partial=False, partial_reason=None)
    errors = [{"message": "x"}] * (steps % 3)
    shown = convert._description({}, root, "helper", kinds, errors, run, from_attributes=False)
    parts = [
        reference_convert._count(steps, "step"),
        reference_convert._count(llm, "LLM call"),
        reference_convert._count(tools, "tool call"),
    ]
    if errors:
        parts.append(reference_convert._count(len(errors), "error"))
    expected = f"Agent run 'helper': {', '.join(parts)}"
    assert shown == expected + ("; the run failed" if failed.failed else "")
