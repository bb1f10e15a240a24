"""Fault injection: scripted statuses, headers, delays, drops and redirects."""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timezone
from email.utils import format_datetime, parsedate_to_datetime

import pytest
import requests

from infinium_otel.sandbox import Fault, Sandbox

from .support import Api


def test_status_sequence_is_consumed_in_order(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(503), Fault(500), Fault(429, retry_after="1"))
    statuses = [api.post_trace().status_code for _ in range(4)]
    assert statuses == [503, 500, 429, 201]
    assert len(sandbox.traces()) == 1
    assert [r.status for r in sandbox.requests] == statuses
    assert [r.fault is not None for r in sandbox.requests] == [True, True, True, False]


def test_repeat_queues_the_same_fault(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(502, repeat=3))
    assert sandbox.faults.pending("trace") == 3
    assert [api.post_trace().status_code for _ in range(4)] == [502, 502, 502, 201]


def test_faults_apply_to_their_endpoint_only(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("interpretation", Fault(500))
    trace_id = api.post_trace().json()["traceId"]
    assert api.get_result(trace_id).status_code == 500
    assert api.get_result(trace_id).status_code == 404
    assert sandbox.faults.pending() == 0


def test_faults_come_before_authentication(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(503))
    assert api.post_trace(headers={}).status_code == 503
    assert api.post_trace(headers={}).status_code == 401


def test_clear_forgets_queued_faults(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(500), Fault(500))
    sandbox.faults.clear()
    assert api.post_trace().status_code == 201


def test_unknown_endpoint_name_is_refused(sandbox: Sandbox) -> None:
    with pytest.raises(ValueError, match="trace"):
        sandbox.faults.push("traces", Fault())


def test_retry_after_in_seconds(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(429, retry_after="7"))
    answer = api.post_trace()
    assert answer.status_code == 429
    assert answer.headers["Retry-After"] == "7"


def test_retry_after_as_http_date(api: Api, sandbox: Sandbox) -> None:
    when = datetime(2030, 1, 2, 3, 4, 5, tzinfo=timezone.utc)
    sandbox.faults.push("trace", Fault(503, retry_after=format_datetime(when, usegmt=True)))
    answer = api.post_trace()
    assert answer.status_code == 503
    assert parsedate_to_datetime(answer.headers["Retry-After"]) == when


def test_custom_body_and_headers(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push(
        "trace",
        Fault(400, body={"error": "bad"}, headers={"X-Request-Id": "abc"}),
        Fault(502, body="<html>gateway</html>", headers={"Content-Type": "text/html"}),
        Fault(500, body=b"\x00\x01"),
    )
    first = api.post_trace()
    assert (first.status_code, first.json(), first.headers["X-Request-Id"]) == (
        400,
        {"error": "bad"},
        "abc",
    )
    second = api.post_trace()
    assert second.text == "<html>gateway</html>"
    assert second.headers["Content-Type"] == "text/html"
    assert api.post_trace().content == b"\x00\x01"


def test_delay_longer_than_the_client_timeout(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(201, body={"traceId": str(uuid.uuid4())}, delay=1.5))
    started = time.monotonic()
    with pytest.raises(requests.Timeout):
        api.post_trace(timeout=0.3)
    assert time.monotonic() - started < 1.4
    # The server is still fine for the next request.
    assert api.post_trace().status_code == 201


def test_delay_then_answer(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("interpretation", Fault(503, delay=0.3))
    started = time.monotonic()
    assert api.get_result(str(uuid.uuid4())).status_code == 503
    assert time.monotonic() - started >= 0.3


def test_drop_closes_the_connection_without_an_answer(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(drop=True))
    with pytest.raises(requests.ConnectionError):
        api.post_trace()
    assert sandbox.requests[-1].status is None
    assert api.post_trace().status_code == 201
    assert len(sandbox.traces()) == 1


def test_redirect_carries_location_and_is_not_followed(api: Api, sandbox: Sandbox) -> None:
    target = f"http://127.0.0.1:{sandbox.port}/elsewhere"
    sandbox.faults.push("trace", Fault(307, location=target))
    answer = api.post_trace()
    assert answer.status_code == 307
    assert answer.headers["Location"] == target
    assert [r.path for r in sandbox.requests if r.path == "/elsewhere"] == []


@pytest.mark.parametrize("location", ["https://example.com/x", "//evil.example/x"])
def test_redirects_never_point_away_from_this_machine(location: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        Fault(302, location=location)


@pytest.mark.parametrize("kwargs", [{"status": 42}, {"delay": -1.0}, {"repeat": 0}])
def test_fault_options_are_checked(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Fault(**kwargs)  # type: ignore[arg-type]


def test_stop_interrupts_a_pending_delay(api: Api, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(503, delay=30))
    started = time.monotonic()
    import threading

    errors: list[BaseException] = []

    def send() -> None:
        try:
            api.post_trace(timeout=20)
        except BaseException as exc:
            errors.append(exc)

    thread = threading.Thread(target=send)
    thread.start()
    time.sleep(0.3)
    sandbox.stop()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert time.monotonic() - started < 15
    assert errors and isinstance(errors[0], requests.ConnectionError)
