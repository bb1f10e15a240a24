"""When to poll next: pure arithmetic on times, no clocks, threads or I/O.

All times are ``time.monotonic()`` seconds handed in by the caller. A plan is
either "poll at ``at``" or "give up at ``at``"; the processor only executes it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from infinium_otel.client import retry
from infinium_otel.client.retry import RetryPolicy

__all__ = [
    "BACKOFF_CAP",
    "MIN_POLL_GAP",
    "Plan",
    "backoff_delay",
    "plan_next",
]

MIN_POLL_GAP = 1.0
"""No two polls of one trace are closer than this (courtesy to the API)."""

BACKOFF_CAP = 60.0
"""Longest wait between polls after repeated server or network errors."""


@dataclass(frozen=True)
class Plan:
    """The next step for one pending trace: poll at ``at``, or expire at ``at``."""

    at: float
    poll: bool


def plan_next(now: float, deadline: float, delay: float, *, hard: bool = False) -> Plan:
    """Poll ``delay`` seconds from ``now`` if that is before ``deadline``.

    When the wanted time falls at or after the deadline, one last poll is made
    exactly at the deadline, provided that is at least ``MIN_POLL_GAP`` away and
    the delay is not ``hard`` (a server's ``Retry-After`` must be honoured, so a
    rate-limited trace simply expires). Otherwise the trace expires at the
    deadline (or now, when the deadline has passed).
    """
    at = now + max(delay, 0.0)
    if at < deadline:
        return Plan(at, poll=True)
    if not hard and deadline - now >= MIN_POLL_GAP:
        return Plan(deadline, poll=True)
    return Plan(max(deadline, now), poll=False)


def backoff_delay(
    failures: int,
    interval: float,
    *,
    cap: float = BACKOFF_CAP,
    rng: random.Random | None = None,
) -> float:
    """Delay after ``failures`` consecutive transient errors (5xx, network).

    Doubles from ``2 * interval`` up to ``cap``, with +-25 % jitter so that many
    traces failing together do not retry together; never under ``interval``.
    """
    policy = RetryPolicy(backoff_base=2.0 * interval, backoff_cap=max(cap, interval), jitter=0.25)
    return max(interval, retry.backoff_delay(max(failures, 1) - 1, policy, rng))
