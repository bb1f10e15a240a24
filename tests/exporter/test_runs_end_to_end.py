"""Assembly and conversion end to end: spans in through a real SDK, payloads out at the sandbox.

Every span a test makes carries ``test.run`` naming the run it belongs to, and
an in-memory exporter on the same provider keeps them all, so each payload can
be checked to hold exactly its own run's spans: its steps' span ids are the
run's spans other than the root, no more and no fewer.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import Tracer

from infinium_otel.sandbox import Sandbox

from .support import (
    Pipeline,
    agent_attributes,
    chat_attributes,
    checked_payloads,
    step_names,
    tags,
    tool_attributes,
)


class Recorded:
    """A pipeline plus an in-memory copy of every span it made."""

    def __init__(self, sandbox: Sandbox, **options: Any) -> None:
        self.pipeline = Pipeline(sandbox, **options)
        self.memory = InMemorySpanExporter()
        self.pipeline.provider.add_span_processor(SimpleSpanProcessor(self.memory))
        self.tracer: Tracer = self.pipeline.tracer

    def spans(self) -> list[ReadableSpan]:
        return list(self.memory.get_finished_spans())

    def assert_exact(self, payload: dict[str, Any], label: str | None = None) -> str:
        """The payload holds exactly the spans labelled with its root's run; returns the label.

        ``label`` is needed only when the root has not ended (a partial run).
        """
        by_id = {f"{s.context.span_id:016x}": s for s in self.spans()}
        root = by_id.get(tags(payload)["otel.span_id"])
        if label is None:
            assert root is not None
            label = str((root.attributes or {})["test.run"])
        expected = {
            span_id
            for span_id, span in by_id.items()
            if (span.attributes or {}).get("test.run") == label and span is not root
        }
        actual = [step["metadata"]["span_id"] for step in payload.get("steps", [])]
        assert len(actual) == len(set(actual)), "a span became two steps"
        assert set(actual) == expected, (label, set(actual) ^ expected)
        return label


@pytest.fixture
def recorded(sandbox: Sandbox) -> Iterator[Recorded]:
    made = Recorded(sandbox)
    yield made
    made.pipeline.close()


def labelled(label: str, attributes: dict[str, Any]) -> dict[str, Any]:
    return {**attributes, "test.run": label}


def agent_run(tracer: Tracer, label: str, chats: int, tools: int = 1) -> None:
    """One agent run with ``chats`` LLM calls and ``tools`` tool calls, all labelled."""
    with tracer.start_as_current_span(
        f"invoke_agent {label}", attributes=labelled(label, agent_attributes(label))
    ):
        for index in range(chats):
            with tracer.start_as_current_span(
                "chat", attributes=labelled(label, chat_attributes(tokens_in=index + 1))
            ):
                pass
        for index in range(tools):
            name = f"{label}-tool-{index}"
            with tracer.start_as_current_span(
                f"execute_tool {name}", attributes=labelled(label, tool_attributes(name))
            ):
                pass


def test_several_runs_in_one_trace(recorded: Recorded, sandbox: Sandbox) -> None:
    tracer = recorded.tracer
    with tracer.start_as_current_span("POST /tickets"):
        for index, label in enumerate(("triage", "answer", "review")):
            agent_run(tracer, label, chats=index + 1)
        with tracer.start_as_current_span("INSERT ticket"):
            pass
    assert recorded.pipeline.flush()
    payloads = checked_payloads(sandbox)
    assert [p["name"] for p in payloads] == ["triage", "answer", "review"]
    trace_ids = {tags(p)["otel.trace_id"] for p in payloads}
    assert len(trace_ids) == 1
    for index, payload in enumerate(payloads):
        recorded.assert_exact(payload)
        assert payload["llm_usage"]["api_calls_count"] == index + 1
        assert payload["sections"]["general"]["tools_used"] == [f"{payload['name']}-tool-0"]
    assert recorded.pipeline.exporter.stats()["spans_dropped_no_genai"] == 2


def test_nested_agents_are_steps_of_the_outer_run(recorded: Recorded, sandbox: Sandbox) -> None:
    tracer = recorded.tracer
    label = "outer"
    with tracer.start_as_current_span(
        "invoke_agent outer", attributes=labelled(label, agent_attributes("outer"))
    ):
        with tracer.start_as_current_span("plan", attributes={"test.run": label}):
            with tracer.start_as_current_span(
                "invoke_agent inner", attributes=labelled(label, agent_attributes("inner"))
            ):
                with tracer.start_as_current_span(
                    "invoke_agent innermost",
                    attributes=labelled(label, agent_attributes("innermost")),
                ):
                    with tracer.start_as_current_span(
                        "chat", attributes=labelled(label, chat_attributes(tokens_in=7))
                    ):
                        pass
        with tracer.start_as_current_span(
            "chat", attributes=labelled(label, chat_attributes(tokens_in=5))
        ):
            pass
    assert recorded.pipeline.flush()
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "outer"
    recorded.assert_exact(payload)
    assert step_names(payload) == [
        "plan",
        "agent inner",
        "agent innermost",
        "chat gpt-test",
        "chat gpt-test",
    ]
    depths = [step["metadata"]["depth"] for step in payload["steps"]]
    assert depths == [1, 2, 3, 4, 1]
    assert payload["llm_usage"]["prompt_tokens"] == 12


def test_runs_on_many_threads_at_once(sandbox: Sandbox) -> None:
    recorded = Recorded(sandbox, processor_options={"max_queue_size": 8192})
    threads_count, runs_each = 8, 6
    start = threading.Barrier(threads_count)

    def worker(thread_index: int) -> None:
        start.wait()
        for run_index in range(runs_each):
            label = f"t{thread_index}-r{run_index}"
            agent_run(recorded.tracer, label, chats=(thread_index + run_index) % 4 + 1, tools=2)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(threads_count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert recorded.pipeline.flush()
    payloads = checked_payloads(sandbox)
    assert len(payloads) == threads_count * runs_each
    seen = set()
    for payload in payloads:
        label = recorded.assert_exact(payload)
        thread_index, run_index = (int(part[1:]) for part in label.split("-"))
        chats = (thread_index + run_index) % 4 + 1
        assert payload["llm_usage"]["api_calls_count"] == chats
        assert len(payload["steps"]) == chats + 2
        seen.add(label)
    assert len(seen) == threads_count * runs_each
    recorded.pipeline.close()


def test_runs_on_many_asyncio_tasks_at_once(recorded: Recorded, sandbox: Sandbox) -> None:
    tracer = recorded.tracer

    async def run(index: int) -> None:
        label = f"task-{index}"
        with tracer.start_as_current_span(
            f"invoke_agent {label}", attributes=labelled(label, agent_attributes(label))
        ):
            for call in range(index % 3 + 1):
                with tracer.start_as_current_span(
                    "chat", attributes=labelled(label, chat_attributes(tokens_in=call + 1))
                ):
                    await asyncio.sleep(0.001 * (index % 5))
                with tracer.start_as_current_span(
                    f"execute_tool {label}-lookup",
                    attributes=labelled(label, tool_attributes(f"{label}-lookup")),
                ):
                    await asyncio.sleep(0)

    async def main() -> None:
        await asyncio.gather(*(run(index) for index in range(30)))

    asyncio.run(main())
    assert recorded.pipeline.flush()
    payloads = checked_payloads(sandbox)
    assert sorted(p["name"] for p in payloads) == sorted(f"task-{i}" for i in range(30))
    for payload in payloads:
        label = recorded.assert_exact(payload)
        calls = int(label.split("-")[1]) % 3 + 1
        assert payload["llm_usage"]["api_calls_count"] == calls
        assert step_names(payload).count(f"tool {label}-lookup") == calls


def test_a_run_split_across_many_export_batches(sandbox: Sandbox) -> None:
    recorded = Recorded(
        sandbox, processor_options={"max_export_batch_size": 2, "schedule_delay_millis": 10}
    )
    tracer = recorded.tracer
    with tracer.start_as_current_span("GET /work"):
        for index in range(4):
            label = f"batched-{index}"
            with tracer.start_as_current_span(
                f"invoke_agent {label}", attributes=labelled(label, agent_attributes(label))
            ):
                for call in range(5):
                    with tracer.start_as_current_span(
                        "chat", attributes=labelled(label, chat_attributes(tokens_in=call))
                    ):
                        time.sleep(0.002)  # let the processor export in between
                    agent_run_tool(tracer, label, call)
    assert recorded.pipeline.flush()
    payloads = checked_payloads(sandbox)
    assert [p["name"] for p in payloads] == [f"batched-{i}" for i in range(4)]
    for payload in payloads:
        recorded.assert_exact(payload)
        assert len(payload["steps"]) == 10
    recorded.pipeline.close()


def agent_run_tool(tracer: Tracer, label: str, index: int) -> None:
    name = f"{label}-tool-{index}"
    with tracer.start_as_current_span(
        f"execute_tool {name}", attributes=labelled(label, tool_attributes(name))
    ):
        pass


def test_trees_without_genai_are_not_sent(recorded: Recorded, sandbox: Sandbox) -> None:
    tracer = recorded.tracer
    for path in ("/health", "/metrics", "/login"):
        with tracer.start_as_current_span(f"GET {path}"):
            with tracer.start_as_current_span("SELECT 1"):
                pass
    agent_run(tracer, "only-this", chats=1)
    assert recorded.pipeline.flush()
    assert [p["name"] for p in checked_payloads(sandbox)] == ["only-this"]
    assert recorded.pipeline.exporter.stats()["spans_dropped_no_genai"] == 6


def test_a_run_whose_root_never_ends_arrives_partial_after_the_ttl(sandbox: Sandbox) -> None:
    recorded = Recorded(sandbox, run_ttl=0.2)
    tracer = recorded.tracer
    label = "stuck"
    root = tracer.start_span(
        "invoke_agent stuck", attributes=labelled(label, agent_attributes(label))
    )
    from opentelemetry import trace

    with trace.use_span(root, end_on_exit=False):
        for _ in range(3):
            with tracer.start_as_current_span(
                "chat", attributes=labelled(label, chat_attributes())
            ):
                pass
    # No flush: the exporter's own timer sends it once the trace has been idle for run_ttl.
    [stored] = sandbox.wait_for_traces(1, timeout=5.0)
    payload = checked_payloads(sandbox)[0]
    assert tags(payload)["partial"] == "true"
    assert "time-to-live" in tags(payload)["partial_reason"]
    # The root had not ended: the payload still carries its name and span id.
    assert payload["name"] == "stuck"
    assert tags(payload)["otel.span_id"] == f"{root.get_span_context().span_id:016x}"
    assert step_names(payload) == ["chat gpt-test"] * 3
    assert payload["llm_usage"]["api_calls_count"] == 3
    recorded.assert_exact(payload, label)
    assert stored.payload == payload
    root.end()
    assert recorded.pipeline.flush()
    stats = recorded.pipeline.exporter.stats()
    assert stats["runs_partial"] == 1
    assert stats["late_spans"] == 1  # the root, after its run left
    assert len(sandbox.traces()) == 1
    recorded.pipeline.close()


def test_a_full_buffer_sends_the_oldest_run_partial(sandbox: Sandbox) -> None:
    recorded = Recorded(sandbox, max_buffered_spans=5)
    tracer = recorded.tracer
    with tracer.start_as_current_span(
        "invoke_agent hoarder", attributes=labelled("hoarder", agent_attributes("hoarder"))
    ):
        for _ in range(8):
            with tracer.start_as_current_span(
                "chat", attributes=labelled("hoarder", chat_attributes())
            ):
                pass
        assert recorded.pipeline.flush()
        payloads = checked_payloads(sandbox)
        assert payloads, "the buffer cap must send something before the root ends"
        assert all(tags(p)["partial"] == "true" for p in payloads)
        assert all("buffer full" in tags(p)["partial_reason"] for p in payloads)
    assert recorded.pipeline.flush()
    stats = recorded.pipeline.exporter.stats()
    assert stats["traces_evicted"] >= 1
    assert stats["spans_buffered"] == 0
    # Every chat span went out in a partial run or was counted as late; none vanished.
    sent = sum(p["llm_usage"]["api_calls_count"] for p in checked_payloads(sandbox))
    late_chats = stats["late_spans"] - 1  # the root itself arrived late too
    assert sent >= 6
    assert sent + late_chats == 8
    recorded.pipeline.close()


def test_spans_over_the_per_run_cap_are_dropped_and_the_run_says_so(sandbox: Sandbox) -> None:
    recorded = Recorded(sandbox, max_spans_per_run=4)
    agent_run(recorded.tracer, "capped", chats=10, tools=0)
    assert recorded.pipeline.flush()
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "capped"
    assert tags(payload)["partial"] == "true"
    assert "per-run cap" in tags(payload)["partial_reason"]
    # The cap counts every span held for the trace; the root is always admitted.
    assert len(payload["steps"]) == 4
    assert recorded.pipeline.exporter.stats()["spans_dropped_cap"] == 6
    recorded.pipeline.close()


def test_shutdown_sends_a_live_run_as_partial(sandbox: Sandbox) -> None:
    recorded = Recorded(sandbox)
    tracer = recorded.tracer
    root = tracer.start_span(
        "invoke_agent cut", attributes=labelled("cut", agent_attributes("cut"))
    )
    from opentelemetry import trace

    with trace.use_span(root, end_on_exit=False):
        with tracer.start_as_current_span("chat", attributes=labelled("cut", chat_attributes())):
            pass
    recorded.pipeline.processor.force_flush()
    assert recorded.pipeline.exporter.shutdown_report(5.0) is True
    [payload] = checked_payloads(sandbox)
    assert tags(payload)["partial"] == "true"
    assert "shut down" in tags(payload)["partial_reason"]
    root.end()
    recorded.pipeline.close()
