"""A waiting flush is woken when what it waits for has settled, not at every settlement.

Each wake-up takes the delivery lock and the interpreter lock from the threads
doing the work, so a flush waiting for a few hundred runs must not be woken a
few hundred times. Real parts: prebuilt SDK spans, the exporter, the sandbox.
"""

from __future__ import annotations

import threading
from typing import Any

import pytest

from infinium_otel.sandbox import Fault, Sandbox

from .support import exporter_for, trace_posts
from .test_delivery_behaviour import prebuilt_runs

RUNS = 40


class CountingCondition(threading.Condition):
    """The flushes' condition, counting how often a waiter returns from ``wait``."""

    def __init__(self, lock: Any) -> None:
        super().__init__(lock)
        self.wakeups = 0

    def wait(self, timeout: float | None = None) -> bool:
        woke = super().wait(timeout)
        self.wakeups += 1
        return woke


def counted_flush(sandbox: Sandbox) -> tuple[bool, int]:
    """Export RUNS runs in one batch, flush; (the flush's answer, its wake-ups)."""
    exporter = exporter_for(sandbox)
    delivery = exporter._delivery
    assert delivery is not None
    state = delivery._pipeline.state
    counting = CountingCondition(state.lock)
    state.settled = counting
    exporter.export([span for run in prebuilt_runs(RUNS) for span in run])
    try:
        return exporter.force_flush(20_000), counting.wakeups
    finally:
        exporter.shutdown()


@pytest.mark.timeout(60)
def test_a_flush_is_woken_once_its_runs_are_delivered_not_per_run(sandbox: Sandbox) -> None:
    delivered, wakeups = counted_flush(sandbox)
    assert delivered
    assert trace_posts(sandbox) == RUNS
    assert wakeups <= 2, wakeups


@pytest.mark.timeout(60)
def test_a_failure_among_them_still_makes_the_flush_false(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=400))
    delivered, wakeups = counted_flush(sandbox)
    assert not delivered
    assert trace_posts(sandbox) == RUNS
    assert wakeups <= 2, wakeups


def test_the_ledger_lets_a_flush_end_only_when_every_earlier_run_settled() -> None:
    from infinium_otel.delivery.ledger import SettlementLedger

    ledger = SettlementLedger()
    first, second, third = ledger.open(), ledger.open(), ledger.open()
    waiter = ledger.begin_flush()
    later = ledger.open()  # after the flush began: not waited for
    ledger.settle(third, ok=True)  # out of order, as with several sends in flight
    ledger.settle(first, ok=True)
    assert ledger.waits(waiter) and not ledger.flush_may_end()
    ledger.settle(second, ok=False)
    assert not ledger.waits(waiter) and ledger.flush_may_end()
    assert waiter.failed
    ledger.end_flush(waiter)
    assert not ledger.flush_may_end()  # nobody waits
    assert not ledger.all_accepted()  # ``later`` is still open
    ledger.settle(later, ok=True)
    assert ledger.all_accepted()
