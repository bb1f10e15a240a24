"""The pure parts: backoff, Retry-After, deadlines, payload encoding and status mapping."""

from __future__ import annotations

import json
import random
from email.utils import formatdate
from typing import Any

import pytest

from infinium_otel.client.retry import (
    DEFAULT_RETRY_AFTER,
    RetryPolicy,
    attempt_timeout,
    backoff_delay,
    decide,
    parse_retry_after,
)
from infinium_otel.client.transport import (
    INTERPRETATION,
    TRACE,
    RawResponse,
    Request,
    map_response,
)
from infinium_otel.contract import MAX_PAYLOAD_BYTES
from infinium_otel.errors import (
    InfiniumError,
    NetworkError,
    PayloadTooLargeError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    ValidationError,
)
from infinium_otel.payload.json_encoder import check_payload_size
from infinium_otel.payload.json_encoder import encode_json as encode_payload

NOW = 1_700_000_000.0


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ("2", 2.0),
        (" 0 ", 0.0),
        ("1.5", 1.5),
        (None, DEFAULT_RETRY_AFTER),
        ("", DEFAULT_RETRY_AFTER),
        ("soon", DEFAULT_RETRY_AFTER),
        ("-5", DEFAULT_RETRY_AFTER),
        ("nan", DEFAULT_RETRY_AFTER),
        ("inf", DEFAULT_RETRY_AFTER),
        (formatdate(NOW + 30, usegmt=True), 30.0),
        (formatdate(NOW - 30, usegmt=True), 0.0),
        ("Tue, 14 Nov 2023 22:13:50 -0000", 30.0),  # NOW + 30 with a "-0000" zone
        ("Mon, 99 Foo 2023 25:61:61 GMT", DEFAULT_RETRY_AFTER),
    ],
)
def test_retry_after_both_forms(header: str | None, expected: float) -> None:
    assert parse_retry_after(header, now=NOW) == pytest.approx(expected)


@pytest.mark.parametrize("attempt", range(10))
def test_backoff_is_exponential_capped_and_jittered(attempt: int) -> None:
    policy = RetryPolicy(backoff_base=1.0, backoff_cap=60.0)
    nominal = min(2.0**attempt, 60.0)
    rng = random.Random(attempt)
    delays = [backoff_delay(attempt, policy, rng) for _ in range(200)]
    assert all(0.75 * nominal <= d <= 1.25 * nominal for d in delays)
    assert max(delays) - min(delays) > 0.1 * nominal  # jitter actually spreads them


def test_backoff_without_jitter_is_exact() -> None:
    policy = RetryPolicy(backoff_base=0.5, backoff_cap=3.0, jitter=0.0)
    assert [backoff_delay(n, policy) for n in range(5)] == [0.5, 1.0, 2.0, 3.0, 3.0]


def test_attempt_timeout_is_clipped_by_the_deadline() -> None:
    assert attempt_timeout(30.0, None, now=100.0) == 30.0
    assert attempt_timeout(30.0, 105.0, now=100.0) == 5.0
    assert attempt_timeout(2.0, 105.0, now=100.0) == 2.0
    assert attempt_timeout(2.0, 100.01, now=100.0) is None
    assert attempt_timeout(2.0, 99.0, now=100.0) is None


def _decide(error: InfiniumError, attempt: int = 0, deadline: float | None = None) -> Any:
    policy = RetryPolicy(max_retries=3, backoff_base=1.0, jitter=0.0)
    return decide(error, attempt=attempt, policy=policy, now=100.0, deadline=deadline)


def test_decide_retries_only_transient_errors() -> None:
    assert _decide(ServerError("x", status_code=503)).delay == 1.0
    assert _decide(NetworkError("x"), attempt=2).delay == 4.0
    assert _decide(RateLimitError("x", retry_after=7.0)).delay == 7.0
    for final in (ValidationError("x"), InfiniumError("x", status_code=302)):
        assert _decide(final).reason == "not_retryable"
    assert _decide(ServerError("x"), attempt=3).reason == "retries_exhausted"


def test_decide_gives_up_when_the_deadline_leaves_no_room() -> None:
    assert _decide(RateLimitError("x", retry_after=60.0), deadline=110.0).reason == "deadline"
    assert _decide(RateLimitError("x", retry_after=5.0), deadline=110.0).delay == 5.0
    assert _decide(ServerError("x"), attempt=2, deadline=103.0).reason == "deadline"


def test_encoding_is_compact_utf8_and_keeps_key_order() -> None:
    body = encode_payload({"name": "caf\u00e9", "b": [1, 2], "a": {"z": None}})
    assert body == '{"name":"caf\u00e9","b":[1,2],"a":{"z":null}}'.encode()


def test_encoding_repairs_surrogates() -> None:
    body = encode_payload({"lone": "a\udc80b", "pair": "\ud83d\ude00", "key\ud800": 1})
    decoded = json.loads(body.decode("utf-8"))
    assert decoded == {"lone": "a\ufffdb", "pair": "\U0001f600", "key\ufffd": 1}


@pytest.mark.parametrize("bad", [{"x": float("inf")}, {"x": object()}, {1.5j: 1}])
def test_encoding_refuses_what_json_cannot_say(bad: dict[Any, Any]) -> None:
    with pytest.raises(ValidationError) as info:
        encode_payload(bad)
    assert info.value.field == "payload"


def test_size_limit_is_inclusive() -> None:
    check_payload_size(b"x" * MAX_PAYLOAD_BYTES)
    with pytest.raises(PayloadTooLargeError):
        check_payload_size(b"x" * (MAX_PAYLOAD_BYTES + 1))


def _map(status: int, body: object, purpose: str = TRACE, headers: Any = None) -> Any:
    raw = RawResponse(status, headers or {}, json.dumps(body).encode() if body else b"")
    request = Request("GET", "/agents/x/interpreted-result/y", None, purpose)
    return map_response(request, raw, secret="top-secret-value", now=NOW)


def test_trace_id_falls_back_to_id() -> None:
    assert _map(200, {"traceId": "a", "id": "b"}).trace_id == "a"
    assert _map(200, {"id": "b"}).trace_id == "b"


@pytest.mark.parametrize("body", [None, {"message": "ok"}, {"traceId": ""}])
def test_a_2xx_without_a_trace_id_is_not_a_delivery(body: object) -> None:
    with pytest.raises(UnexpectedResponseError) as info:
        _map(200, body)
    assert info.value.status_code == 200
    assert "200" in info.value.message


@pytest.mark.parametrize("result", [None, "", {}, False])
def test_falsy_interpretation_is_not_ready(result: object) -> None:
    response = _map(200, {"interpretedTraceResult": result}, INTERPRETATION)
    assert response.success is False


def test_a_text_interpretation_is_ready() -> None:
    response = _map(200, {"interpretedTraceResult": "graded: fine"}, INTERPRETATION)
    assert response.success is True
    assert response.interpreted_result == "graded: fine"


def test_unknown_statuses_are_plain_errors_and_secrets_are_redacted() -> None:
    with pytest.raises(InfiniumError) as info:
        _map(418, {"error": "top-secret-value is a teapot"})
    assert type(info.value) is InfiniumError
    assert info.value.status_code == 418
    assert "top-secret-value" not in info.value.message + repr(info.value.details)


def test_rate_limit_reads_the_http_date_against_the_given_clock() -> None:
    with pytest.raises(RateLimitError) as info:
        _map(429, None, headers={"Retry-After": formatdate(NOW + 12, usegmt=True)})
    assert info.value.retry_after == pytest.approx(12.0)
