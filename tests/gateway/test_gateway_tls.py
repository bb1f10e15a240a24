"""TLS and mutual TLS on both listeners, with certificates made here: the official
OTLP exporters with a client certificate signed by the gateway's client CA are
accepted; without one, with one from another CA, or speaking plain HTTP to the TLS
port, a client is refused and the gateway keeps serving."""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import (
    OTLPSpanExporter as GrpcExporter,
)
from opentelemetry.exporter.otlp.proto.http.trace_exporter import (
    OTLPSpanExporter as HttpExporter,
)
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2_grpc
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor, SpanExportResult
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from conversion.checks import check_payload
from exporter.support import agent_attributes, chat_attributes, exporter_for
from infinium_otel.gateway import Gateway, GatewayOptions
from infinium_otel.sandbox import Sandbox

from .certs import Authority, Issued
from .otlp import request, span
from .support import accounted, start_gateway, wait_until

pytestmark = pytest.mark.timeout(60)


class Pki:
    def __init__(self, folder: Path) -> None:
        self.ca = Authority(folder, "trusted")
        self.server = self.ca.issue("gateway", server=True)
        self.client = self.ca.issue("agent", server=False)
        self.other_ca = Authority(folder, "stranger")
        self.stranger = self.other_ca.issue("agent", server=False)


@pytest.fixture
def pki(tmp_path: Path) -> Pki:
    return Pki(tmp_path)


@pytest.fixture
def mtls(sandbox: Sandbox, pki: Pki) -> Iterator[Gateway]:
    made = start_gateway(
        sandbox,
        grpc_port=0,
        tls_cert=str(pki.server.cert),
        tls_key=str(pki.server.key),
        client_ca=str(pki.ca.cert),
        handshake_timeout=1.0,
    )
    try:
        yield made
    finally:
        made.close(5)


def agent_spans(name: str) -> Sequence[ReadableSpan]:
    """A real SDK agent run (root, one chat), captured in memory."""
    memory = InMemorySpanExporter()
    made = TracerProvider()
    made.add_span_processor(SimpleSpanProcessor(memory))
    tracer = made.get_tracer("tests.gateway.tls")
    with tracer.start_as_current_span("invoke_agent", attributes=agent_attributes(name)):
        with tracer.start_as_current_span("chat", attributes=chat_attributes(tokens_in=5)):
            pass
    made.shutdown()
    return memory.get_finished_spans()


def client_context(pki: Pki, client: Issued | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=str(pki.ca.cert))
    if client is not None:
        context.load_cert_chain(str(client.cert), str(client.key))
    return context


def https_post(gateway: Gateway, context: ssl.SSLContext) -> int:
    port = gateway.http_port
    assert port is not None
    connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
    try:
        body = request(span(1, attributes=agent_attributes("raw"))).SerializeToString()
        connection.request(
            "POST", "/v1/traces", body=body, headers={"Content-Type": "application/x-protobuf"}
        )
        return connection.getresponse().status
    finally:
        connection.close()


def grpc_channel(gateway: Gateway, pki: Pki, client: Issued | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.cert.read_bytes(),
        private_key=client.key.read_bytes() if client else None,
        certificate_chain=client.cert.read_bytes() if client else None,
    )
    return grpc.secure_channel(f"127.0.0.1:{gateway.grpc_port}", credentials)


def test_official_http_exporter_with_a_client_certificate_is_accepted(
    sandbox: Sandbox, mtls: Gateway, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    # requests lets these variables override the exporter's own certificate_file.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    assert mtls.http_url.startswith("https://")
    otlp = HttpExporter(
        endpoint=f"{mtls.http_url}/v1/traces",
        certificate_file=str(pki.ca.cert),
        client_certificate_file=str(pki.client.cert),
        client_key_file=str(pki.client.key),
        timeout=5,
    )
    assert otlp.export(agent_spans("over-https")) == SpanExportResult.SUCCESS
    stored = sandbox.wait_for_traces(1, timeout=15)
    assert check_payload(stored[0].payload)["name"] == "over-https"
    stats = mtls.stats()
    assert stats["gateway_spans_received"] == 2 and accounted(stats)
    assert stats["gateway_tls_handshakes_failed"] == 0


def test_official_grpc_exporter_with_a_client_certificate_is_accepted(
    sandbox: Sandbox, mtls: Gateway, pki: Pki
) -> None:
    otlp = GrpcExporter(
        endpoint=f"127.0.0.1:{mtls.grpc_port}",
        credentials=grpc.ssl_channel_credentials(
            root_certificates=pki.ca.cert.read_bytes(),
            private_key=pki.client.key.read_bytes(),
            certificate_chain=pki.client.cert.read_bytes(),
        ),
        timeout=5,
    )
    try:
        assert otlp.export(agent_spans("over-grpcs")) == SpanExportResult.SUCCESS
    finally:
        otlp.shutdown()
    stored = sandbox.wait_for_traces(1, timeout=15)
    assert check_payload(stored[0].payload)["name"] == "over-grpcs"
    assert accounted(mtls.stats())


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_http_client_without_a_trusted_certificate_is_refused(
    mtls: Gateway, pki: Pki, who: str
) -> None:
    client = None if who == "no certificate" else pki.stranger
    with pytest.raises((ssl.SSLError, ConnectionError, OSError)):
        https_post(mtls, client_context(pki, client))
    # With TLS 1.3 the client may see the refusal before the server has counted it.
    assert wait_until(lambda: mtls.stats()["gateway_tls_handshakes_failed"] == 1, 5)
    stats = mtls.stats()
    assert stats["gateway_requests"] == 0 and stats["gateway_spans_received"] == 0
    assert https_post(mtls, client_context(pki, pki.client)) == 200  # still serving


@pytest.mark.parametrize("who", ["no certificate", "another CA's certificate"])
def test_grpc_client_without_a_trusted_certificate_is_refused(
    mtls: Gateway, pki: Pki, who: str
) -> None:
    client = None if who == "no certificate" else pki.stranger
    body = request(span(1, attributes=agent_attributes("g"))).SerializeToString()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    message = ExportTraceServiceRequest.FromString(body)
    with grpc_channel(mtls, pki, client) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        with pytest.raises(grpc.RpcError) as raised:
            stub.Export(message, timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert mtls.stats()["gateway_requests"] == 0
    with grpc_channel(mtls, pki, pki.client) as channel:
        stub = trace_service_pb2_grpc.TraceServiceStub(channel)
        stub.Export(message, timeout=5)  # a trusted client still gets through
    assert mtls.stats()["gateway_spans_received"] == 1


def test_plain_http_to_the_tls_port_is_refused_and_the_server_keeps_serving(
    mtls: Gateway, pki: Pki
) -> None:
    port = mtls.http_port
    assert port is not None
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    with pytest.raises((http.client.HTTPException, OSError)):
        connection.request(
            "POST", "/v1/traces", body=b"x", headers={"Content-Type": "application/x-protobuf"}
        )
        connection.getresponse()
    connection.close()
    assert wait_until(lambda: mtls.stats()["gateway_tls_handshakes_failed"] == 1, 5)
    assert https_post(mtls, client_context(pki, pki.client)) == 200


def test_a_stalled_handshake_holds_neither_the_accept_loop_nor_its_slot_for_long(
    mtls: Gateway, pki: Pki
) -> None:
    port = mtls.http_port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
        time.sleep(0.2)  # connected, says nothing: its worker waits in the handshake
        assert https_post(mtls, client_context(pki, pki.client)) == 200  # others served
        started = time.monotonic()
        assert stalled.recv(1024) == b""  # closed after the handshake timeout (1 s)
        assert time.monotonic() - started < 8
    assert mtls.stats()["gateway_tls_handshakes_failed"] == 1


def test_tls_without_client_ca_serves_any_tls_client(sandbox: Sandbox, pki: Pki) -> None:
    gateway = start_gateway(sandbox, tls_cert=str(pki.server.cert), tls_key=str(pki.server.key))
    try:
        assert https_post(gateway, client_context(pki, None)) == 200
        assert "mtls" not in repr(gateway) and "transport=tls" in repr(gateway)
    finally:
        gateway.close(5)


def test_off_loopback_needs_a_token_or_a_client_ca(sandbox: Sandbox, pki: Pki) -> None:
    tls = {"tls_cert": str(pki.server.cert), "tls_key": str(pki.server.key)}
    with pytest.raises(ValueError, match=r"bearer token .* or client certificates"):
        Gateway(exporter_for(sandbox), GatewayOptions(host="0.0.0.0", grpc_port=None, **tls))
    made = Gateway(  # made, not started: tests listen only on loopback
        exporter_for(sandbox),
        GatewayOptions(host="0.0.0.0", grpc_port=None, client_ca=str(pki.ca.cert), **tls),
    )
    assert "transport=mtls" in repr(made)
    made.close(1)


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"tls_cert": "cert"}, "both --tls-cert and --tls-key"),
        ({"client_ca": "ca"}, "--client-ca needs --tls-cert"),
        ({"tls_cert": "/nonexistent.pem", "tls_key": "/nonexistent.pem"}, "cannot use"),
    ],
)
def test_incomplete_or_unusable_tls_options_are_clear_errors(
    sandbox: Sandbox, options: dict[str, str], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Gateway(exporter_for(sandbox), GatewayOptions(grpc_port=None, **options))


def test_a_client_ca_that_is_not_a_certificate_is_a_clear_error(
    sandbox: Sandbox, pki: Pki, tmp_path: Path
) -> None:
    junk = tmp_path / "junk.pem"
    junk.write_text("not a certificate")
    with pytest.raises(ValueError, match="cannot use the client CA"):
        Gateway(
            exporter_for(sandbox),
            GatewayOptions(
                grpc_port=None,
                tls_cert=str(pki.server.cert),
                tls_key=str(pki.server.key),
                client_ca=str(junk),
            ),
        )


@pytest.mark.slow
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--host", "0.0.0.0"], "requires a bearer token"),
        (["--tls-cert", "cert.pem"], "TLS needs both --tls-cert and --tls-key"),
    ],
)
def test_cli_refuses_unsafe_or_incomplete_options_in_one_line(
    sandbox: Sandbox, args: list[str], message: str
) -> None:
    from .test_gateway_cli import gateway_process

    process = gateway_process(sandbox, "--http-port", "0", "--grpc-port", "0", *args)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 2
    assert message in err and len(err.strip().splitlines()) == 1
    assert out == ""


@pytest.mark.slow
def test_cli_serves_mtls_with_files_from_the_environment(
    sandbox: Sandbox, pki: Pki, monkeypatch: pytest.MonkeyPatch
) -> None:
    import signal

    from .test_gateway_cli import free_port, gateway_process

    port = free_port()
    monkeypatch.setenv("INFINIUM_GATEWAY_TLS_CERT", str(pki.server.cert))
    monkeypatch.setenv("INFINIUM_GATEWAY_TLS_KEY", str(pki.server.key))
    monkeypatch.setenv("INFINIUM_GATEWAY_CLIENT_CA", str(pki.ca.cert))
    process = gateway_process(sandbox, "--http-port", str(port), "--grpc-port", "0")
    try:
        assert process.stdout is not None
        assert f"https://127.0.0.1:{port}/v1/traces" in process.stdout.readline()
        context = client_context(pki, pki.client)
        connection = http.client.HTTPSConnection("127.0.0.1", port, timeout=10, context=context)
        connection.request("GET", "/healthz")
        assert connection.getresponse().status == 200
        connection.close()
        with pytest.raises((ssl.SSLError, OSError)):
            bare = http.client.HTTPSConnection(
                "127.0.0.1", port, timeout=10, context=client_context(pki, None)
            )
            bare.request("GET", "/healthz")
            bare.getresponse()
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
    assert process.returncode == 0


def test_error_answers_and_lingering_close_work_over_tls(sandbox: Sandbox, pki: Pki) -> None:
    """A body over the limit is answered 413 through TLS (the lingering close drains
    TLS records), and the gateway serves the next client."""
    gateway = start_gateway(
        sandbox,
        tls_cert=str(pki.server.cert),
        tls_key=str(pki.server.key),
        client_ca=str(pki.ca.cert),
        max_body_bytes=1024,
    )
    port = gateway.http_port
    assert port is not None
    try:
        context = client_context(pki, pki.client)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
            with context.wrap_socket(raw, server_hostname="127.0.0.1") as secured:
                secured.sendall(
                    b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n"
                    b"Content-Type: application/x-protobuf\r\nTransfer-Encoding: chunked\r\n\r\n"
                    + b"800\r\n"
                    + b"\x0a" * 2048
                    + b"\r\n"
                )
                answer = secured.recv(4096)
        assert answer.startswith(b"HTTP/1.1 413"), answer
        assert wait_until(lambda: gateway.stats()["gateway_requests_too_large"] == 1, 5)
        assert https_post(gateway, context) == 200
    finally:
        gateway.close(5)


def test_plaintext_grpc_to_the_tls_port_is_refused(mtls: Gateway, pki: Pki) -> None:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )

    message = ExportTraceServiceRequest.FromString(
        request(span(1, attributes=agent_attributes("plain"))).SerializeToString()
    )
    with grpc.insecure_channel(f"127.0.0.1:{mtls.grpc_port}") as channel:
        with pytest.raises(grpc.RpcError) as raised:
            trace_service_pb2_grpc.TraceServiceStub(channel).Export(message, timeout=5)
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE
    assert mtls.stats()["gateway_requests"] == 0
    with grpc_channel(mtls, pki, pki.client) as channel:
        trace_service_pb2_grpc.TraceServiceStub(channel).Export(message, timeout=5)
    assert mtls.stats()["gateway_spans_received"] == 1
