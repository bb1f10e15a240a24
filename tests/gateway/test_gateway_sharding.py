"""The sharding contract without the Collector: three gateway processes, every span of a
trace sent to the instance its trace id picks (as the Collector's ``loadbalancing``
exporter with ``routing_key: traceID`` does), spans of each trace split over several
requests and two services. Every run arrives exactly once and whole."""

from __future__ import annotations

import http.client
import urllib.request
from collections import defaultdict

import pytest
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.propagate import extract, inject
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from conversion.checks import check_payload
from exporter.support import agent_attributes, chat_attributes, tool_attributes
from infinium_otel.sandbox import Sandbox

from .support import provider, wait_until
from .test_gateway_cli import free_port, gateway_process

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

INSTANCES = 3
TRACES = 12


def make_runs() -> list[ReadableSpan]:
    """Twelve runs, each an agent in service A calling a tool service B remotely."""
    memory_a, memory_b = InMemorySpanExporter(), InMemorySpanExporter()
    with provider(memory_a, "svc-a") as a, provider(memory_b, "svc-b") as b:
        tracer_a, tracer_b = a.get_tracer("a"), b.get_tracer("b")
        for n in range(TRACES):
            with tracer_a.start_as_current_span(
                f"agent {n}", attributes={**agent_attributes(f"run-{n}"), "test.run": n}
            ):
                with tracer_a.start_as_current_span("chat", attributes=chat_attributes()):
                    pass
                with tracer_a.start_as_current_span("call tools", kind=SpanKind.CLIENT):
                    carrier: dict[str, str] = {}
                    inject(carrier)
                    with tracer_b.start_as_current_span(
                        "serve tools", context=extract(carrier), kind=SpanKind.SERVER
                    ):
                        for tool in ("search", "fetch"):
                            with tracer_b.start_as_current_span(
                                f"tool {tool}", attributes=tool_attributes(tool)
                            ):
                                pass
        return [*memory_a.get_finished_spans(), *memory_b.get_finished_spans()]


def runs_for_every_instance() -> dict[int, list[ReadableSpan]]:
    """The runs' spans by trace id, made again until every instance gets a trace (random
    ids leave one of three instances without any of twelve traces about 2 % of the time)."""
    for _ in range(50):
        by_trace: dict[int, list[ReadableSpan]] = defaultdict(list)
        for span in make_runs():
            by_trace[span.context.trace_id].append(span)
        if {trace_id % INSTANCES for trace_id in by_trace} == set(range(INSTANCES)):
            return by_trace
    raise AssertionError("random trace ids never reached every instance")


def post(port: int, spans: list[ReadableSpan]) -> int:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/traces",
            body=encode_spans(spans).SerializeToString(),
            headers={"Content-Type": "application/x-protobuf"},
        )
        answer = connection.getresponse()
        answer.read()
        return answer.status
    finally:
        connection.close()


def test_three_instances_each_trace_to_its_instance_every_run_once_and_whole(
    sandbox: Sandbox,
) -> None:
    by_trace = runs_for_every_instance()
    assert len(by_trace) == TRACES

    ports = [free_port() for _ in range(INSTANCES)]
    processes = [
        gateway_process(sandbox, "--http-port", str(port), "--grpc-port", "0", "--wait", "0.5")
        for port in ports
    ]
    try:
        for process in processes:
            assert process.stdout is not None
            assert "/v1/traces" in process.stdout.readline()
        # Each trace: per service, one request per span, services interleaved.
        requests: list[tuple[int, list[ReadableSpan]]] = []
        for trace_id, trace_spans in by_trace.items():
            port = ports[trace_id % INSTANCES]
            requests.extend((port, [span]) for span in trace_spans)
        requests.sort(key=lambda item: item[1][0].end_time or 0)
        assert all(post(port, batch) == 200 for port, batch in requests)
        assert wait_until(lambda: len(sandbox.traces()) >= TRACES, timeout=30)
        stats = [
            urllib.request.urlopen(f"http://127.0.0.1:{port}/stats", timeout=5).read()
            for port in ports
        ]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.communicate(timeout=30)
    assert all(process.returncode == 0 for process in processes)
    assert all(b'"gateway_traces_handed_over": 0' not in s for s in stats)  # all three worked

    payloads = [check_payload(stored.payload) for stored in sandbox.traces()]
    assert len(payloads) == TRACES, sorted(p["name"] for p in payloads)
    assert sorted(p["name"] for p in payloads) == sorted(f"run-{n}" for n in range(TRACES))
    for payload in payloads:
        trace_id = int(payload["environment"]["custom_tags"]["otel.trace_id"], 16)
        root_id = payload["environment"]["custom_tags"]["otel.span_id"]
        expected = {f"{s.context.span_id:016x}" for s in by_trace[trace_id]} - {root_id}
        steps = [step["metadata"]["span_id"] for step in payload["steps"]]
        assert len(steps) == len(set(steps))
        assert set(steps) <= expected  # nothing from another trace
        # Whole: both tools from service B and the chat from A are steps of the one run.
        assert [s["action"] for s in payload["steps"]].count("tool_use") == 2
        assert [s["action"] for s in payload["steps"]].count("llm_call") == 1
