"""Transient failures are retried over a time window, not a small count.

Without a spool a payload lives only in memory, so the worker keeps retrying
429, 5xx and network failures (with the client's backoff and ``Retry-After``)
until the retry window passes; answers that can never succeed end at once.
"""

from __future__ import annotations

import time

import pytest

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.worker import Delivery, DeliveryWorker, RunMeta
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Fault, Sandbox

from .support import Pipeline, names_received, trace_attempts


@pytest.mark.timeout(60)
def test_four_transient_failures_in_a_row_then_the_run_is_delivered(sandbox: Sandbox) -> None:
    sandbox.faults.push(
        "trace",
        Fault(status=503),
        Fault(drop=True),
        Fault(status=502),
        Fault(status=429, retry_after="1"),
    )
    pipeline = Pipeline(sandbox, max_retries=2)  # fewer retries than failures
    pipeline.run("persistent")
    assert pipeline.exporter.force_flush(30_000) is True
    stats = pipeline.exporter.stats()
    assert pipeline.close() is True
    assert names_received(sandbox) == {"persistent": 1}
    assert trace_attempts(sandbox) == 5
    assert stats["delivery_delivered"] == 1
    assert stats["delivery_failed"] == 0
    attempts = [r.at for r in sandbox.requests if r.endpoint == "trace"]
    assert attempts[4] - attempts[3] >= 0.9  # Retry-After: 1 was honoured


def one_payload(name: str) -> Delivery:
    body = (
        f'{{"name": "{name}", "description": "window", '
        '"current_datetime": "2025-01-01T00:00:00Z", "duration": 1.0}'
    ).encode()
    return Delivery(body=body, meta=RunMeta(otel_trace_id=1, otel_span_id=2, run_name=name))


def client_for(sandbox: Sandbox) -> InfiniumClient:
    return InfiniumClient(
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        max_retries=0,
        timeout=2.0,
        backoff_base=0.05,
    )


@pytest.mark.timeout(60)
def test_503_on_every_attempt_fails_once_the_window_has_passed(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=10_000))
    worker = DeliveryWorker(client_for(sandbox), retry_window=1.5)
    started = time.monotonic()
    assert worker.submit(one_payload("never"))
    assert worker.flush(20.0) is False
    took = time.monotonic() - started
    assert took < 15.0  # it gave up with the window, long before flush's own deadline
    assert trace_attempts(sandbox) > 3  # the client's setting alone allows one attempt
    assert worker.stats.failed == 1
    assert worker.stats.delivered == 0
    assert worker.shutdown(2.0) is True  # nothing new since the flush reported it


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
def test_an_answer_that_cannot_change_ends_at_once(status: int, sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=status, repeat=100))
    worker = DeliveryWorker(client_for(sandbox), retry_window=30.0)
    assert worker.submit(one_payload(f"final-{status}"))
    assert worker.flush(10.0) is False
    assert trace_attempts(sandbox) == 1
    assert worker.stats.failed == 1
    worker.shutdown(2.0)
