"""Retries, the error family, deadlines, redirects, local checks and secrecy, over real HTTP."""

from __future__ import annotations

import threading
import time
from email.utils import formatdate
from typing import Any

import pytest

from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    InfiniumTimeoutError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)
from infinium_otel.sandbox import SANDBOX_AGENT_SECRET, Fault, Sandbox

from .conftest import VALID_PAYLOAD, ClientFactory, assert_secret_free, recorded

TRACE_ID = "123e4567-e89b-12d3-a456-426614174000"


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_errors_are_retried_then_succeed(client: Any, sandbox: Sandbox, status: int) -> None:
    sandbox.faults.push("trace", Fault(status=status, repeat=2))
    response = client.send_task_data(VALID_PAYLOAD)
    assert response.success
    seen = recorded(sandbox, "trace", 3)
    assert [r.status for r in seen] == [status, status, 201]
    assert [t.trace_id for t in sandbox.traces()] == [response.trace_id]


def test_exhausted_retries_raise_the_last_error(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(max_retries=2)
    sandbox.faults.push("trace", Fault(status=502, repeat=2), Fault(status=504, repeat=5))
    with pytest.raises(ServerError) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert info.value.status_code == 504
    assert info.value.details["gave_up"] == "retries_exhausted"
    assert len(recorded(sandbox, "trace", 3)) == 3
    assert_secret_free(info.value)


def test_max_retries_zero_makes_a_single_attempt(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=3))
    with pytest.raises(ServerError):
        client.send_task_data(VALID_PAYLOAD, max_retries=0)
    time.sleep(0.2)
    assert len(recorded(sandbox, "trace", 1)) == 1


def test_rate_limit_waits_retry_after_seconds_then_succeeds(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=429, retry_after="0.4"))
    assert client.send_task_data(VALID_PAYLOAD).success
    first, second = recorded(sandbox, "trace", 2)
    assert first.status == 429 and second.status == 201
    assert second.at - first.at >= 0.35  # the 0.01 s backoff base alone would be far shorter


def test_rate_limit_honours_an_http_date(client: Any, sandbox: Sandbox) -> None:
    when = formatdate(time.time() + 2, usegmt=True)  # whole seconds: 1 to 2 s from now
    sandbox.faults.push("trace", Fault(status=429, retry_after=when))
    assert client.send_task_data(VALID_PAYLOAD).success
    first, second = recorded(sandbox, "trace", 2)
    assert second.at - first.at >= 0.8


def test_rate_limit_exposes_retry_after_on_a_single_attempt(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("interpretation", Fault(status=429, retry_after="7"))
    with pytest.raises(RateLimitError) as info:
        client.get_interpreted_task_result(TRACE_ID, max_retries=0)
    assert info.value.retry_after == 7.0
    assert info.value.status_code == 429


def test_rate_limit_beyond_the_deadline_raises_at_once(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=429, retry_after=None, repeat=3))
    started = time.monotonic()
    with pytest.raises(RateLimitError) as info:
        client.send_task_data(VALID_PAYLOAD, deadline=time.monotonic() + 1.5)
    assert time.monotonic() - started < 1.5
    assert info.value.retry_after == 60.0  # the default when the header is absent
    assert info.value.details["gave_up"] == "deadline"
    time.sleep(0.2)
    assert len(recorded(sandbox, "trace", 1)) == 1


def test_deadline_bounds_the_whole_call(client_factory: ClientFactory, sandbox: Sandbox) -> None:
    client = client_factory(max_retries=100, backoff_base=0.2)
    sandbox.faults.push("trace", Fault(status=503, repeat=100))
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        client.send_task_data(VALID_PAYLOAD, deadline=started + 1.5)
    elapsed = time.monotonic() - started
    assert elapsed < 1.5 + 1.0
    assert info.value.details["gave_up"] == "deadline"
    assert len(recorded(sandbox, "trace", 2)) >= 2  # it did retry within the deadline


def test_deadline_clips_the_network_timeout(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(timeout=30.0, max_retries=0)
    sandbox.faults.push("trace", Fault(status=201, delay=3.0))
    started = time.monotonic()
    with pytest.raises(InfiniumTimeoutError) as info:
        client.send_task_data(VALID_PAYLOAD, deadline=started + 0.5)
    assert time.monotonic() - started < 2.5
    assert info.value.timeout_duration is not None and info.value.timeout_duration <= 0.5


def test_a_passed_deadline_sends_nothing(client: Any, sandbox: Sandbox) -> None:
    with pytest.raises(InfiniumTimeoutError):
        client.send_task_data(VALID_PAYLOAD, deadline=time.monotonic() - 1.0)
    assert sandbox.requests == []


@pytest.mark.parametrize(
    ("status", "error"),
    [
        (400, ValidationError),
        (403, PermissionDeniedError),
        (404, NotFoundError),
        (413, PayloadTooLargeError),
        (422, ValidationError),
        (401, AuthenticationError),
    ],
)
def test_client_errors_are_never_retried(
    client: Any, sandbox: Sandbox, status: int, error: type[InfiniumError]
) -> None:
    body = {"error": f"scripted {status} answer"}
    sandbox.faults.push("trace", Fault(status=status, body=body, repeat=3))
    with pytest.raises(error) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert type(info.value) is error
    assert info.value.status_code == status
    assert f"scripted {status} answer" in info.value.message
    time.sleep(0.2)
    assert len(recorded(sandbox, "trace", 1)) == 1
    assert_secret_free(info.value)


def test_real_validation_error_carries_the_server_message(client: Any, sandbox: Sandbox) -> None:
    with pytest.raises(ValidationError) as info:
        client.send_task_data({"description": "no name"})
    assert info.value.status_code == 422
    assert "name" in info.value.message
    assert info.value.details["response_data"]["errors"]


def test_wrong_secret_is_an_authentication_error(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(agent_secret="wrong-secret-value")
    with pytest.raises(AuthenticationError) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert info.value.status_code == 401
    assert "wrong-secret-value" not in repr(info.value) + repr(info.value.details)
    assert len(recorded(sandbox, "trace", 1)) == 1


def test_redirects_are_never_followed(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=302, location="http://127.0.0.1:1/elsewhere"))
    with pytest.raises(InfiniumError) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert info.value.status_code == 302
    assert "302" in info.value.message and "redirect" in info.value.message
    time.sleep(0.2)
    assert len(sandbox.requests) == 1


def test_a_redirect_on_a_poll_is_an_error_too(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("interpretation", Fault(status=307, location="/api/v1/elsewhere"))
    with pytest.raises(InfiniumError) as info:
        client.get_interpreted_task_result(TRACE_ID)
    assert info.value.status_code == 307
    time.sleep(0.2)
    assert len(sandbox.requests) == 1


def test_dropped_connections_are_retried_then_raise_network_error(
    client_factory: ClientFactory, sandbox: Sandbox
) -> None:
    client = client_factory(max_retries=2)
    sandbox.faults.push("trace", Fault(drop=True, repeat=3))
    with pytest.raises(NetworkError) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert not isinstance(info.value, InfiniumTimeoutError)
    assert info.value.original_error is not None
    seen = recorded(sandbox, "trace", 3)
    assert [r.status for r in seen] == [None, None, None]
    assert_secret_free(info.value)


def test_a_dropped_connection_then_success(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(drop=True))
    assert client.send_task_data(VALID_PAYLOAD).success
    assert len(sandbox.traces()) == 1


def test_a_slow_server_is_a_timeout_error(client_factory: ClientFactory, sandbox: Sandbox) -> None:
    client = client_factory(timeout=0.3, max_retries=1)
    sandbox.faults.push("trace", Fault(status=201, delay=1.0, repeat=2))
    with pytest.raises(InfiniumTimeoutError) as info:
        client.send_task_data(VALID_PAYLOAD)
    assert info.value.timeout_duration == pytest.approx(0.3)
    assert info.value.details["gave_up"] == "retries_exhausted"


def test_server_restart_is_survived(client: Any, sandbox: Sandbox) -> None:
    assert client.send_task_data(VALID_PAYLOAD).success
    sandbox.stop()
    with pytest.raises(NetworkError):
        client.send_task_data(VALID_PAYLOAD, max_retries=1)
    sandbox.start()
    assert client.send_task_data(VALID_PAYLOAD).success
    assert len(sandbox.traces()) == 2


def test_cancel_ends_a_backoff_promptly(client_factory: ClientFactory, sandbox: Sandbox) -> None:
    client = client_factory(backoff_base=30.0)
    sandbox.faults.push("trace", Fault(status=503, repeat=5))
    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        client.send_task_data(VALID_PAYLOAD, cancel=cancel)
    assert time.monotonic() - started < 5.0
    assert info.value.details["gave_up"] == "cancelled"
    assert len(recorded(sandbox, "trace", 1)) == 1


def test_a_set_cancel_event_allows_no_retry(client: Any, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=5))
    cancel = threading.Event()
    cancel.set()
    with pytest.raises(ServerError) as info:
        client.send_task_data(VALID_PAYLOAD, cancel=cancel)
    assert info.value.details["gave_up"] == "cancelled"
    time.sleep(0.2)
    assert len(recorded(sandbox, "trace", 1)) == 1


# Local checks: nothing is sent -------------------------------------------------------------


def test_payload_over_one_mebibyte_is_refused_before_sending(client: Any, sandbox: Sandbox) -> None:
    payload = {**VALID_PAYLOAD, "description": "x" * 1_048_576}
    with pytest.raises(PayloadTooLargeError) as info:
        client.send_task_data(payload)
    assert isinstance(info.value, ValidationError)
    assert info.value.details["limit"] == 1_048_576
    assert info.value.details["size"] > 1_048_576
    with pytest.raises(PayloadTooLargeError):
        client.send_trace_bytes(b"{" + b" " * 1_048_576 + b"}")
    assert sandbox.requests == []


def test_multibyte_text_counts_in_bytes(client: Any, sandbox: Sandbox) -> None:
    payload = {**VALID_PAYLOAD, "description": "\u00e9" * 600_000}  # 1.2 MB of UTF-8
    with pytest.raises(PayloadTooLargeError):
        client.send_task_data(payload)
    assert sandbox.requests == []


@pytest.mark.parametrize(
    "bad_id",
    ["../etc/passwd", "a/b", "a\\b", "..", "not-a-uuid", "", f"{TRACE_ID}/../x", TRACE_ID + "0"],
)
def test_path_ids_are_validated(client: Any, sandbox: Sandbox, bad_id: str) -> None:
    with pytest.raises(ValidationError) as info:
        client.get_interpreted_task_result(bad_id)
    assert info.value.field == "task_id"
    with pytest.raises(ValidationError) as waited:
        client.wait_for_interpretation(bad_id, timeout=5.0, poll_interval=1.0)
    assert waited.value.field == "trace_id"
    assert sandbox.requests == []


def test_non_mapping_payload_is_refused(client: Any, sandbox: Sandbox) -> None:
    with pytest.raises(ValidationError) as info:
        client.send_task_data(["not", "a", "mapping"])
    assert info.value.field == "payload"
    with pytest.raises(ValidationError) as raw:
        client.send_trace_bytes("a str, not bytes")
    assert raw.value.field == "body"
    assert sandbox.requests == []


# Secrecy -------------------------------------------------------------------------------------


def test_the_secret_never_shows_in_errors_even_when_echoed(client: Any, sandbox: Sandbox) -> None:
    echo = {"error": f"bad key {SANDBOX_AGENT_SECRET}", "echo": [SANDBOX_AGENT_SECRET]}
    errors: list[InfiniumError] = []
    for fault in (
        Fault(status=400, body=echo),
        Fault(status=401, body=echo),
        Fault(status=500, body=echo, repeat=4),
        Fault(status=429, body=echo, retry_after="600"),
        Fault(drop=True, repeat=4),
    ):
        sandbox.faults.push("trace", fault)
        with pytest.raises(InfiniumError) as info:
            client.send_task_data(VALID_PAYLOAD, deadline=time.monotonic() + 5.0)
        errors.append(info.value)
    assert [type(e) for e in errors] == [
        ValidationError,
        AuthenticationError,
        ServerError,
        RateLimitError,
        NetworkError,
    ]
    assert "********" in errors[0].message
    for error in errors:
        assert_secret_free(error)
    assert SANDBOX_AGENT_SECRET not in repr(client) + str(client)
