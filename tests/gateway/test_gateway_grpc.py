"""The official OTLP/gRPC exporter sends agent spans to the gateway's gRPC port.

Skips when grpcio or the gRPC exporter is not installed (the ``test`` extra brings both).
"""

from __future__ import annotations

import pytest

pytest.importorskip("grpc", reason="grpcio is not installed (pip install 'infinium-otel[test]')")
grpc_exporter = pytest.importorskip(
    "opentelemetry.exporter.otlp.proto.grpc.trace_exporter",
    reason="opentelemetry-exporter-otlp-proto-grpc is not installed",
)

from conversion.checks import check_payload  # noqa: E402
from exporter.support import agent_attributes, chat_attributes, tool_attributes  # noqa: E402
from infinium_otel.sandbox import Sandbox  # noqa: E402

from .support import accounted, provider, start_gateway  # noqa: E402

pytestmark = pytest.mark.timeout(60)


def test_python_otlp_grpc_exporter_sends_one_whole_run(sandbox: Sandbox) -> None:
    gateway = start_gateway(sandbox, grpc_port=0)
    try:
        assert gateway.grpc_port
        otlp = grpc_exporter.OTLPSpanExporter(
            endpoint=f"127.0.0.1:{gateway.grpc_port}", insecure=True
        )
        with provider(otlp, "svc-grpc") as made:
            tracer = made.get_tracer("tests.gateway.grpc")
            with tracer.start_as_current_span("agent", attributes=agent_attributes("grpc-agent")):
                with tracer.start_as_current_span("chat", attributes=chat_attributes(tokens_in=4)):
                    pass
                with tracer.start_as_current_span("tool", attributes=tool_attributes("calc")):
                    pass
        stored = sandbox.wait_for_traces(1, timeout=15)
        assert gateway.close(10)
    finally:
        gateway.close(5)
    assert len(sandbox.traces()) == 1
    payload = check_payload(stored[0].payload)
    assert payload["name"] == "grpc-agent"
    assert [s["action"] for s in payload["steps"]] == ["llm_call", "tool_use"]
    assert payload["llm_usage"]["prompt_tokens"] == 4
    stats = gateway.stats()
    assert stats["gateway_requests"] == 3 and accounted(stats)


def test_grpc_token_is_checked(sandbox: Sandbox) -> None:
    import grpc
    from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc

    from .otlp import request, span

    gateway = start_gateway(sandbox, grpc_port=0, token="tok")
    try:
        with grpc.insecure_channel(f"127.0.0.1:{gateway.grpc_port}") as channel:
            stub = trace_service_pb2_grpc.TraceServiceStub(channel)
            with pytest.raises(grpc.RpcError) as refused:
                stub.Export(request(span(1)), timeout=5)
            assert refused.value.code() == grpc.StatusCode.UNAUTHENTICATED
            answer = stub.Export(
                request(span(1)), timeout=5, metadata=(("authorization", "Bearer tok"),)
            )
            assert answer.partial_success.rejected_spans == 0
    finally:
        gateway.close(5)
