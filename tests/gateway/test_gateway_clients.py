"""Real OTLP clients send agent spans to the gateway; the sandbox receives whole runs."""

from __future__ import annotations

import json
import urllib.request
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.propagate import extract, inject
from opentelemetry.trace import SpanKind

from conversion.checks import check_payload
from exporter.support import agent_attributes, chat_attributes, tool_attributes
from infinium_otel.sandbox import Sandbox

from .support import accounted, get_json, provider, start_gateway, wait_until

pytestmark = pytest.mark.timeout(60)


def _agent_run(tracer: trace.Tracer, name: str = "planner") -> None:
    with tracer.start_as_current_span("invoke_agent planner", attributes=agent_attributes(name)):
        with tracer.start_as_current_span(
            "chat gpt-test", attributes=chat_attributes(tokens_in=30, tokens_out=7)
        ):
            pass
        with tracer.start_as_current_span(
            "execute_tool search", attributes=tool_attributes("search")
        ):
            pass


def _steps(payload: dict[str, Any]) -> list[str]:
    return [step["action"] for step in payload.get("steps", [])]


def test_python_otlp_http_exporter_sends_one_whole_run(sandbox: Sandbox) -> None:
    gateway = start_gateway(sandbox)
    try:
        otlp = OTLPSpanExporter(endpoint=f"{gateway.http_url}/v1/traces")
        with provider(otlp, "svc-planner") as made:
            _agent_run(made.get_tracer("tests.gateway"))
        stored = sandbox.wait_for_traces(1, timeout=15)
        assert gateway.close(10)
    finally:
        gateway.close(5)
    assert len(sandbox.traces()) == 1
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "planner"
    assert _steps(payload) == ["llm_call", "tool_use"]
    assert payload["llm_usage"]["prompt_tokens"] == 30
    assert payload["llm_usage"]["completion_tokens"] == 7
    tags = payload["environment"]["custom_tags"]
    assert tags["service.name"] == "svc-planner"
    stats = gateway.stats()
    assert stats["gateway_spans_received"] == 3
    assert stats["gateway_traces_handed_over"] == 1
    assert accounted(stats)


def test_gzip_compressed_protobuf_is_accepted(sandbox: Sandbox) -> None:
    from opentelemetry.exporter.otlp.proto.http import Compression

    gateway = start_gateway(sandbox)
    try:
        otlp = OTLPSpanExporter(
            endpoint=f"{gateway.http_url}/v1/traces", compression=Compression.Gzip
        )
        with provider(otlp, "svc-gzip") as made:
            _agent_run(made.get_tracer("tests.gateway"), name="zipped")
        stored = sandbox.wait_for_traces(1, timeout=15)
    finally:
        gateway.close(5)
    assert check_payload(stored[0].payload)["name"] == "zipped"


def test_run_across_two_services_and_many_requests_arrives_as_one_run(sandbox: Sandbox) -> None:
    """Service A's agent calls service B (trace context over a carrier); B's tool and
    LLM spans, exported in their own requests, join A's run."""
    gateway = start_gateway(sandbox)
    endpoint = f"{gateway.http_url}/v1/traces"
    try:
        with (
            provider(OTLPSpanExporter(endpoint=endpoint), "svc-a") as a,
            provider(OTLPSpanExporter(endpoint=endpoint), "svc-b") as b,
        ):
            tracer_a, tracer_b = a.get_tracer("a"), b.get_tracer("b")
            with tracer_a.start_as_current_span(
                "invoke_agent orchestrator", attributes=agent_attributes("orchestrator")
            ):
                with tracer_a.start_as_current_span("chat", attributes=chat_attributes()):
                    pass
                with tracer_a.start_as_current_span("POST /tools", kind=SpanKind.CLIENT):
                    carrier: dict[str, str] = {}
                    inject(carrier)
                    # Service B, in the same test: the remote context is all it gets.
                    with tracer_b.start_as_current_span(
                        "handle /tools", context=extract(carrier), kind=SpanKind.SERVER
                    ):
                        with tracer_b.start_as_current_span(
                            "execute_tool lookup", attributes=tool_attributes("lookup")
                        ):
                            pass
                        with tracer_b.start_as_current_span(
                            "chat", attributes=chat_attributes(tokens_in=5, tokens_out=2)
                        ):
                            pass
        stored = sandbox.wait_for_traces(1, timeout=15)
        wait_until(lambda: gateway.stats()["gateway_spans_held"] == 0)
        assert gateway.close(10)
    finally:
        gateway.close(5)
    assert len(sandbox.traces()) == 1, [t.payload["name"] for t in sandbox.traces()]
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "orchestrator"
    assert "tool_use" in _steps(payload)
    assert payload["llm_usage"]["prompt_tokens"] == 15
    assert gateway.stats()["gateway_parents_made_local"] >= 1


def test_json_otlp_posted_by_hand(sandbox: Sandbox) -> None:
    trace_id = "5b8efff798038103d269b633813fc60c"
    now = 1_700_000_000_000_000_000

    def span(
        span_id: str, parent: str, name: str, attrs: dict[str, Any], end: int
    ) -> dict[str, Any]:
        return {
            "traceId": trace_id,
            "spanId": span_id,
            "parentSpanId": parent,
            "name": name,
            "kind": 1,
            "startTimeUnixNano": str(now),
            "endTimeUnixNano": str(now + end),
            "attributes": [
                {
                    "key": k,
                    "value": {"intValue": str(v)} if isinstance(v, int) else {"stringValue": v},
                }
                for k, v in attrs.items()
            ],
        }

    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": "js"}}]
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "by-hand"},
                        "spans": [
                            span("eee19b7ec3c1b174", "", "agent", agent_attributes("by-hand"), 900),
                            span(
                                "eee19b7ec3c1b175",
                                "eee19b7ec3c1b174",
                                "chat",
                                chat_attributes(tokens_in=11, tokens_out=4),
                                500,
                            ),
                        ],
                    }
                ],
            }
        ]
    }
    gateway = start_gateway(sandbox)
    try:
        request = urllib.request.Request(
            f"{gateway.http_url}/v1/traces",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert answer.status == 200
            assert answer.headers["Content-Type"] == "application/json"
            assert json.loads(answer.read()) == {}
        stored = sandbox.wait_for_traces(1, timeout=15)
    finally:
        gateway.close(5)
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "by-hand"
    assert payload["llm_usage"]["prompt_tokens"] == 11
    assert payload["environment"]["custom_tags"]["otel.trace_id"] == trace_id


def test_health_ready_and_stats(sandbox: Sandbox) -> None:
    gateway = start_gateway(sandbox)
    try:
        for path in ("/healthz", "/readyz"):
            with urllib.request.urlopen(gateway.http_url + path, timeout=5) as answer:
                assert answer.status == 200
        stats = get_json(gateway.http_url + "/stats")
        assert stats["gateway_requests"] == 0
        assert "delivery_delivered" in stats  # the exporter's own counters too
    finally:
        gateway.close(5)
