"""Faults at the gateway's door: each gets the OTLP answer, nothing crashes, nothing
blocks other clients, and every accepted span is accounted for in ``/stats``."""

from __future__ import annotations

import gzip
import http.client
import socket
import threading
import time
import tracemalloc
import zlib
from collections.abc import Iterator
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

from exporter.support import agent_attributes, exporter_for
from infinium_otel.gateway import Gateway, GatewayOptions
from infinium_otel.gateway.bodies import BodyError, inflate
from infinium_otel.sandbox import Sandbox

from .otlp import request, span
from .support import accounted, get_json, start_gateway, wait_until

pytestmark = pytest.mark.timeout(60)

PROTOBUF = {"Content-Type": "application/x-protobuf"}
MiB = 1024 * 1024


@pytest.fixture
def gateway(sandbox: Sandbox) -> Iterator[Gateway]:
    made = start_gateway(sandbox, max_body_bytes=MiB, read_timeout=0.5)
    try:
        yield made
    finally:
        made.close(5)


def post(
    gateway: Gateway, body: bytes, headers: dict[str, str]
) -> tuple[int, dict[str, str], bytes]:
    port = gateway.http_port
    assert port is not None
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.request("POST", "/v1/traces", body=body, headers=headers)
        answer = connection.getresponse()
        return answer.status, dict(answer.headers), answer.read()
    finally:
        connection.close()


def agent_request(span_id: int = 1) -> bytes:
    return request(span(span_id, attributes=agent_attributes("a"))).SerializeToString()


def test_malformed_protobuf_is_400_in_protobuf(gateway: Gateway) -> None:
    status, headers, _ = post(gateway, b"\xff\xff\xff\xff not protobuf", PROTOBUF)
    assert status == 400
    assert headers["Content-Type"] == "application/x-protobuf"
    assert gateway.stats()["gateway_requests_malformed"] == 1


def test_unknown_content_type_is_415(gateway: Gateway) -> None:
    status, _, body = post(gateway, b"hello", {"Content-Type": "text/plain"})
    assert status == 415
    assert b"text/plain" in body


def test_gzip_bomb_is_413(gateway: Gateway) -> None:
    bomb = gzip.compress(b"\0" * (64 * MiB), compresslevel=9)
    assert len(bomb) < MiB  # fits the raw limit: only inflating shows it
    status, _, _ = post(gateway, bomb, {**PROTOBUF, "Content-Encoding": "gzip"})
    assert status == 413
    assert gateway.stats()["gateway_requests_too_large"] == 1


def test_gzip_bomb_is_never_inflated_whole() -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    block = b"\0" * MiB
    bomb = b"".join(compressor.compress(block) for _ in range(256)) + compressor.flush()
    tracemalloc.start()
    try:
        with pytest.raises(BodyError) as raised:
            inflate(bomb, "gzip", MiB)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert raised.value.status == 413
    assert peak < 8 * MiB  # 256 MiB inflated whole would show here


def test_body_over_the_limit_is_413_before_it_is_read(gateway: Gateway) -> None:
    port = gateway.http_port
    assert port is not None
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            b"Content-Length: 52428800\r\n\r\n"  # 50 MB announced, none sent
        )
        answer = raw.recv(4096)
    assert answer.startswith(b"HTTP/1.1 413")


def test_chunked_body_is_accepted_and_over_the_limit_is_413(gateway: Gateway) -> None:
    port = gateway.http_port
    assert port is not None
    body = agent_request()

    def chunked(data: bytes) -> Iterator[bytes]:
        for start in range(0, len(data), 7):
            yield data[start : start + 7]

    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("POST", "/v1/traces", body=chunked(body), headers=PROTOBUF)
    answer = connection.getresponse()
    assert answer.status == 200
    assert ExportTraceServiceResponse.FromString(answer.read()).partial_success.rejected_spans == 0
    connection.request("POST", "/v1/traces", body=iter([b"\0" * (MiB // 2)] * 3), headers=PROTOBUF)
    assert connection.getresponse().status == 413
    connection.close()


def test_client_that_stalls_half_way_is_cut_and_blocks_nobody(gateway: Gateway) -> None:
    port = gateway.http_port
    assert port is not None
    stalled = socket.create_connection(("127.0.0.1", port), timeout=10)
    stalled.sendall(
        b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        b"Content-Length: 1000\r\n\r\n" + b"\x0a" * 10
    )
    status, _, _ = post(gateway, agent_request(), PROTOBUF)  # others are served meanwhile
    assert status == 200
    started = time.monotonic()
    answer = stalled.recv(4096)  # cut after the read timeout: an answer or the close
    assert time.monotonic() - started < 9
    assert answer == b"" or answer.startswith(b"HTTP/1.1 408")
    stalled.close()


def test_partial_success_for_invalid_spans(gateway: Gateway) -> None:
    body = request(span(1), span(2, trace_id=b"\x01" * 3)).SerializeToString()
    status, _, raw = post(gateway, body, PROTOBUF)
    assert status == 200
    answer = ExportTraceServiceResponse.FromString(raw)
    assert answer.partial_success.rejected_spans == 1
    assert "invalid trace or span id" in answer.partial_success.error_message
    stats = gateway.stats()
    assert stats["gateway_spans_received"] == 2 and stats["gateway_spans_rejected"] == 1
    assert accounted(stats)


def test_full_grouper_answers_429_with_retry_after(sandbox: Sandbox) -> None:
    gateway = start_gateway(sandbox, wait=30.0, orphan_wait=30.0, max_held_spans=3)
    try:
        body = request(span(1), span(2, 1), span(3, 1)).SerializeToString()
        assert post(gateway, body, PROTOBUF)[0] == 200
        status, headers, _ = post(gateway, agent_request(4), PROTOBUF)
        assert status == 429
        assert headers["Retry-After"] == "1"
        stats = get_json(gateway.http_url + "/stats")
        assert stats["gateway_backpressure_answers"] == 1
        assert stats["gateway_spans_refused_busy"] == 1
        assert stats["gateway_spans_held"] == 3
        assert accounted(stats)
    finally:
        gateway.close(5)


def test_no_more_traces_are_accepted_than_the_delivery_queue_can_take(sandbox: Sandbox) -> None:
    """Held traces count against the exporter's queue: past it the client hears 429,
    rather than the queue silently dropping runs the client was told were accepted."""
    gateway = start_gateway(
        sandbox, exporter_options={"max_queued_payloads": 5}, wait=30.0, orphan_wait=30.0
    )
    try:
        statuses = [
            post(
                gateway,
                request(
                    span(1, attributes=agent_attributes(f"r{n}"), trace_id=bytes([n]) * 16)
                ).SerializeToString(),
                PROTOBUF,
            )[0]
            for n in range(1, 9)
        ]
        assert statuses == [200] * 5 + [429] * 3
        assert gateway.close(10)  # the drain hands all five over; all five are delivered
    finally:
        gateway.close(5)
    stats = gateway.stats()
    assert stats["delivery_dropped_queue_full"] == 0
    assert stats["delivery_delivered"] == 5
    assert len(sandbox.traces()) == 5


def read_answer(stream: Any) -> tuple[str, dict[str, str], bytes]:
    """One HTTP answer from a raw socket's file: status line, headers, body by its length."""
    status = stream.readline().decode("latin-1").rstrip("\r\n")
    headers: dict[str, str] = {}
    while line := stream.readline().decode("latin-1").rstrip("\r\n"):
        name, value = line.split(":", 1)
        headers[name.lower()] = value.strip()
    return status, headers, stream.read(int(headers["content-length"]))


def test_answers_are_whole_http_answers_on_a_kept_alive_connection(gateway: Gateway) -> None:
    """Each answer is written at once (status line, headers and body together): two on
    one connection, then an error answer that says it closes the connection."""
    port = gateway.http_port
    assert port is not None
    body = agent_request(7)
    head = (
        "POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        stream = raw.makefile("rb")
        for _ in range(2):
            raw.sendall(head + body)
            status, headers, answer = read_answer(stream)
            assert status == "HTTP/1.1 200 OK"
            assert headers["content-type"] == "application/x-protobuf"
            assert headers["server"] == "infinium-otel-gateway"
            assert parsedate_to_datetime(headers["date"]).tzinfo is not None
            assert "connection" not in headers
            assert ExportTraceServiceResponse.FromString(answer) == ExportTraceServiceResponse()
        raw.sendall(head.replace(b"x-protobuf", b"xml") + body)
        status, headers, answer = read_answer(stream)
        assert status == "HTTP/1.1 415 Unsupported Media Type"
        assert headers["connection"] == "close"
        assert b"unsupported content type" in answer
        assert stream.read() == b""  # closed after it
    assert gateway.stats()["gateway_spans_accepted"] == 2


def run_request(n: int) -> bytes:
    """One agent run (a root span) in its own trace."""
    return request(
        span(1, attributes=agent_attributes(f"r{n}"), trace_id=bytes([n]) * 16)
    ).SerializeToString()


@pytest.mark.timeout(30)
def test_a_request_finding_the_gateway_full_waits_for_room_instead_of_429(
    sandbox: Sandbox,
) -> None:
    """Room frees within a moment (the held runs are handed over and delivered), so the
    client is answered 200 then, not told to sleep a whole second on ``Retry-After``."""
    gateway = start_gateway(
        sandbox,
        exporter_options={"max_queued_payloads": 2},
        wait=0.2,
        orphan_wait=2.0,
        admission_wait=5.0,  # room frees after about 0.2 s; 5 s leaves a loaded machine time
    )
    try:
        assert [post(gateway, run_request(n), PROTOBUF)[0] for n in (1, 2)] == [200, 200]
        assert gateway.stats()["gateway_traces_held"] == 2  # full: held runs count
        started = time.monotonic()
        status, headers, _ = post(gateway, run_request(3), PROTOBUF)
        waited = time.monotonic() - started
        assert status == 200 and "Retry-After" not in headers
        assert waited > 0.05  # it waited for room, then got in
        assert wait_until(lambda: len(sandbox.traces()) == 3)
        stats = gateway.stats()
        assert stats["gateway_requests_waited_for_room"] == 1
        assert stats["gateway_backpressure_answers"] == 0
        assert stats["gateway_spans_refused_busy"] == 0
        assert accounted(stats)
    finally:
        gateway.close(5)


@pytest.mark.timeout(30)
def test_several_requests_waiting_for_room_all_get_in_as_it_frees(sandbox: Sandbox) -> None:
    gateway = start_gateway(
        sandbox,
        exporter_options={"max_queued_payloads": 2},
        wait=1.0,  # long enough that all three arrive while it is full
        orphan_wait=2.0,
        admission_wait=10.0,
    )
    statuses: list[int] = []
    try:
        assert [post(gateway, run_request(n), PROTOBUF)[0] for n in (1, 2)] == [200, 200]
        waiting = [
            threading.Thread(
                target=lambda n=n: statuses.append(post(gateway, run_request(n), PROTOBUF)[0])
            )
            for n in (3, 4, 5)
        ]
        for thread in waiting:
            thread.start()
        for thread in waiting:
            thread.join(20)
        assert statuses == [200, 200, 200]
        assert wait_until(lambda: len(sandbox.traces()) == 5)
        stats = gateway.stats()
        assert stats["gateway_requests_waited_for_room"] == 3
        assert stats["gateway_backpressure_answers"] == 0
        assert stats["delivery_dropped_queue_full"] == 0
        assert accounted(stats)
    finally:
        gateway.close(5)


def test_without_admission_wait_a_full_gateway_answers_429_at_once(sandbox: Sandbox) -> None:
    gateway = start_gateway(
        sandbox,
        exporter_options={"max_queued_payloads": 1},
        wait=30.0,
        orphan_wait=30.0,
        admission_wait=0.0,
    )
    try:
        assert post(gateway, run_request(1), PROTOBUF)[0] == 200
        started = time.monotonic()
        status, headers, _ = post(gateway, run_request(2), PROTOBUF)
        assert status == 429 and headers["Retry-After"] == "1"
        assert time.monotonic() - started < 5  # answered without waiting for room
        assert not gateway.pipeline._room_lock.locked()
        stats = gateway.stats()
        assert stats["gateway_backpressure_answers"] == 1
        assert stats["gateway_requests_waited_for_room"] == 0
        assert accounted(stats)
    finally:
        gateway.close(5)


@pytest.mark.timeout(30)
def test_a_request_waiting_for_room_is_answered_503_when_the_gateway_stops(
    sandbox: Sandbox,
) -> None:
    gateway = start_gateway(
        sandbox,
        exporter_options={"max_queued_payloads": 1},
        wait=30.0,
        orphan_wait=30.0,
        admission_wait=20.0,
    )
    answers: list[tuple[int, dict[str, str], float]] = []

    def second() -> None:
        started = time.monotonic()
        status, headers, _ = post(gateway, run_request(2), PROTOBUF)
        answers.append((status, headers, time.monotonic() - started))

    try:
        assert post(gateway, run_request(1), PROTOBUF)[0] == 200
        waiting = threading.Thread(target=second, daemon=True)
        waiting.start()
        assert wait_until(lambda: gateway.pipeline._room_lock.locked())  # it is waiting
        assert gateway.close(10)  # the held run is delivered; the waiting one refused
        waiting.join(10)
    finally:
        gateway.close(5)
    assert len(answers) == 1
    status, headers, waited = answers[0]
    assert status == 503 and headers["Retry-After"] == "1"
    assert waited < 10  # answered when the gateway stopped, not after its 20 s wait
    stats = gateway.stats()
    assert stats["gateway_spans_refused_busy"] == 1
    assert stats["delivery_delivered"] == 1 and len(sandbox.traces()) == 1
    assert accounted(stats)


def test_concurrent_request_cap_answers_503(sandbox: Sandbox) -> None:
    gateway = start_gateway(sandbox, max_concurrent_requests=1, read_timeout=5.0)
    port = gateway.http_port
    assert port is not None
    try:
        holder = socket.create_connection(("127.0.0.1", port), timeout=10)
        holder.sendall(b"POST /v1/traces HTTP/1.1\r\nHost: x\r\n")  # holds the only slot
        time.sleep(0.3)
        with socket.create_connection(("127.0.0.1", port), timeout=10) as second:
            answer = second.recv(4096)  # answered at once, before it sends anything
        assert answer.startswith(b"HTTP/1.1 503")
        assert b"Retry-After: 1" in answer
        holder.close()
    finally:
        gateway.close(5)


@pytest.mark.parametrize("framing", ["content-length", "chunked"])
def test_a_50_mb_body_is_413_and_the_gateway_keeps_serving(gateway: Gateway, framing: str) -> None:
    """50 MB really sent (not only announced): refused once past the limit, read no
    further than the lingering close allows, and the next client is served."""
    port = gateway.http_port
    assert port is not None
    block = b"\x0a" * MiB
    if framing == "chunked":
        head = b"Transfer-Encoding: chunked\r\n\r\n"
        piece = f"{len(block):x}\r\n".encode() + block + b"\r\n"
    else:
        head = f"Content-Length: {50 * MiB}\r\n\r\n".encode()
        piece = block
    answer = b""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        raw.sendall(
            b"POST /v1/traces HTTP/1.1\r\nHost: x\r\nContent-Type: application/x-protobuf\r\n"
            + head
        )
        sent = 0
        try:
            for _ in range(50):
                raw.sendall(piece)
                sent += 1
        except OSError:
            pass  # the gateway stopped reading and closed: expected
        try:
            answer = raw.recv(4096)
        except OSError:
            answer = b""
    assert sent < 50 or answer.startswith(b"HTTP/1.1 413")
    assert answer == b"" or answer.startswith(b"HTTP/1.1 413")
    assert wait_until(lambda: gateway.stats()["gateway_requests_too_large"] == 1, 5)
    assert post(gateway, agent_request(), PROTOBUF)[0] == 200
    assert accounted(gateway.stats())


def test_non_loopback_host_requires_a_token(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="requires a bearer token"):
        Gateway(exporter_for(sandbox), GatewayOptions(host="0.0.0.0", http_port=0, grpc_port=None))


def test_token_is_checked(sandbox: Sandbox) -> None:
    gateway = start_gateway(sandbox, token="s3cret-token")
    try:
        assert post(gateway, agent_request(), PROTOBUF)[0] == 401
        wrong = {**PROTOBUF, "Authorization": "Bearer nope"}
        assert post(gateway, agent_request(), wrong)[0] == 401
        right = {**PROTOBUF, "Authorization": "Bearer s3cret-token"}
        assert post(gateway, agent_request(), right)[0] == 200
        assert "s3cret" not in repr(gateway)
    finally:
        gateway.close(5)


def test_accepted_protobuf_answer_is_the_encoded_empty_response(gateway: Gateway) -> None:
    """The answer to a request taken whole is written without building a response: its
    body must still be what an empty ``ExportTraceServiceResponse`` encodes to, and a
    partial success must still say what was rejected."""
    status, headers, body = post(gateway, agent_request(), PROTOBUF)
    assert status == 200
    assert body == ExportTraceServiceResponse().SerializeToString()
    assert headers["Content-Length"] == "0"
    assert headers["Content-Type"] == "application/x-protobuf"
    bad = request(span(2, attributes=agent_attributes("a")))
    bad.resource_spans[0].scope_spans[0].spans[0].trace_id = b"\0" * 16
    status, _, body = post(gateway, bad.SerializeToString(), PROTOBUF)
    assert status == 200
    assert ExportTraceServiceResponse.FromString(body).partial_success.rejected_spans == 1
