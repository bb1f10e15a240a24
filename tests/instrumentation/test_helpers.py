"""agent / tool / step: decorators and context managers over a real TracerProvider."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator

import pytest
from opentelemetry.trace import StatusCode

from infinium_otel.instrumentation.helpers import agent, configure_helpers, step, tool

from .conftest import Tracing


@pytest.fixture
def helpers(tracing: Tracing) -> Iterator[Tracing]:
    configure_helpers(tracer_provider=tracing.provider, capture_content=True)
    try:
        yield tracing
    finally:
        configure_helpers()


def attrs(span: object) -> dict[str, object]:
    return dict(span.attributes or {})  # type: ignore[attr-defined]


def test_agent_attributes_exactly(helpers: Tracing) -> None:
    @agent(
        "support-bot",
        description="Answers tickets",
        expected_outcome={
            "task_objective": "Resolve the ticket",
            "required_deliverables": ["reply", "tag"],
            "constraints": "be polite",
            "acceptance_criteria": ["customer satisfied"],
        },
        sections={"customer": {"customer_name": "Ada", "tier": 2, "tags": ["vip", "eu"]}},
    )
    def run(question: str, *, urgent: bool = False) -> dict[str, str]:
        return {"answer": question.upper()}

    assert run("hello", urgent=True) == {"answer": "HELLO"}
    span = helpers.only()
    assert span.name == "invoke_agent support-bot"
    assert span.instrumentation_scope is not None
    assert span.instrumentation_scope.name == "infinium_otel.helpers"
    assert attrs(span) == {
        "gen_ai.operation.name": "invoke_agent",
        "gen_ai.agent.name": "support-bot",
        "infinium.description": "Answers tickets",
        "infinium.expected_outcome.task_objective": "Resolve the ticket",
        "infinium.expected_outcome.required_deliverables": ("reply", "tag"),
        "infinium.expected_outcome.constraints": ("be polite",),
        "infinium.expected_outcome.acceptance_criteria": ("customer satisfied",),
        "infinium.section.customer.customer_name": "Ada",
        "infinium.section.customer.tier": "2",
        "infinium.section.customer.tags": ("vip", "eu"),
        "infinium.input_summary": json.dumps({"question": "hello", "urgent": True}),
        "infinium.output_summary": json.dumps({"answer": "HELLO"}),
    }


def test_expected_outcome_string_and_bad_input() -> None:
    with pytest.raises(ValueError, match="unknown expected_outcome key"):
        agent("a", expected_outcome={"goal": "x"})
    with pytest.raises(TypeError, match="sections"):
        agent("a", sections={"s": "not a dict"})  # type: ignore[dict-item]
    with pytest.raises(ValueError, match="non-empty"):
        tool("")


def test_tool_records_arguments_and_result(helpers: Tracing) -> None:
    class Toolbox:
        @tool("search")
        def search(self, query: str, limit: int = 3) -> list[str]:
            return [query] * limit

    assert Toolbox().search("otel", limit=2) == ["otel", "otel"]
    span = helpers.only()
    assert span.name == "execute_tool search"
    assert attrs(span) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "search",
        "gen_ai.tool.call.arguments": json.dumps({"query": "otel", "limit": 2}),
        "gen_ai.tool.call.result": json.dumps(["otel", "otel"]),
    }


def test_step_context_manager_nests_under_agent(helpers: Tracing) -> None:
    with agent("planner") as root, step("plan") as inner:
        inner.set_attribute("custom", 1)
        assert root.is_recording()
    plan, planner = helpers.spans()
    assert plan.name == "plan"
    assert attrs(plan) == {"infinium.step": True, "custom": 1}
    assert plan.parent is not None
    assert plan.parent.span_id == planner.context.span_id


def test_exceptions_recorded_and_reraised_unchanged(helpers: Tracing) -> None:
    error = KeyError("missing")

    @step("fails")
    def fails() -> None:
        raise error

    with pytest.raises(KeyError) as caught:
        fails()
    assert caught.value is error
    with pytest.raises(ZeroDivisionError), tool("calc"):
        _ = 1 / 0
    first, second = helpers.spans()
    for span, kind in ((first, "KeyError"), (second, "ZeroDivisionError")):
        assert span.status.status_code is StatusCode.ERROR
        assert attrs(span)["error.type"] == kind
        assert [e.name for e in span.events] == ["exception"]


def test_async_function_and_async_context_manager(helpers: Tracing) -> None:
    @tool("fetch")
    async def fetch(url: str) -> str:
        await asyncio.sleep(0)
        return "body:" + url

    async def main() -> str:
        async with agent("async-agent"):
            return await fetch("u")

    assert asyncio.run(main()) == "body:u"
    fetched, root = helpers.spans()
    assert fetched.name == "execute_tool fetch"
    assert attrs(fetched)["gen_ai.tool.call.result"] == "body:u"
    assert fetched.parent is not None and fetched.parent.span_id == root.context.span_id


def test_generator_span_covers_whole_iteration(helpers: Tracing) -> None:
    @step("produce")
    def produce(n: int) -> Iterator[int]:
        for i in range(n):
            with step(f"item {i}"):
                yield i

    gen = produce(3)
    assert helpers.spans() == []
    assert list(gen) == [0, 1, 2]
    spans = helpers.spans()
    assert [s.name for s in spans] == ["item 0", "item 1", "item 2", "produce"]
    outer = spans[-1]
    assert all(
        s.parent is not None and s.parent.span_id == outer.context.span_id for s in spans[:3]
    )
    assert attrs(outer)["infinium.output_summary"] == "[0, 1, 2]"


def test_generator_error_and_early_close(helpers: Tracing) -> None:
    @step("broken")
    def broken() -> Iterator[int]:
        yield 1
        raise ValueError("bad")

    with pytest.raises(ValueError, match="bad"):
        list(broken())
    gen = broken()
    next(gen)
    gen.close()
    errored, closed = helpers.spans()
    assert errored.status.status_code is StatusCode.ERROR
    assert closed.status.status_code is StatusCode.UNSET


def test_async_generator(helpers: Tracing) -> None:
    @agent("streamer")
    async def stream() -> AsyncIterator[str]:
        for word in ("a", "b"):
            yield word

    async def main() -> list[str]:
        return [w async for w in stream()]

    assert asyncio.run(main()) == ["a", "b"]
    span = helpers.only()
    assert span.name == "invoke_agent streamer"
    assert attrs(span)["infinium.output_summary"] == '["a", "b"]'


def test_content_capture_off_records_no_arguments(tracing: Tracing) -> None:
    configure_helpers(tracer_provider=tracing.provider, capture_content=False)
    try:

        @tool("secret")
        def secret(password: str) -> str:
            return password[::-1]

        assert secret("hunter2") == "2retnuh"
    finally:
        configure_helpers()
    assert attrs(tracing.only()) == {
        "gen_ai.operation.name": "execute_tool",
        "gen_ai.tool.name": "secret",
    }


def test_summaries_are_capped(helpers: Tracing) -> None:
    @agent("big")
    def big(text: str) -> str:
        return text * 2

    big("y" * 10_000)
    values = attrs(helpers.only())
    assert len(str(values["infinium.input_summary"])) == 3000
    assert len(str(values["infinium.output_summary"])) == 8000
