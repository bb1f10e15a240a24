"""Retry policy arithmetic: backoff, ``Retry-After`` and deadlines.

Pure functions only (the clock and randomness come in as arguments), so the
sync and async clients share one policy and tests need no sleeping.
"""

from __future__ import annotations

import dataclasses
import math
import random
from datetime import timezone
from email.utils import parsedate_to_datetime

from infinium_otel.errors import InfiniumError, NetworkError, RateLimitError, ServerError

__all__ = [
    "DEFAULT_RETRY_AFTER",
    "MIN_ATTEMPT_WINDOW",
    "Decision",
    "RetryPolicy",
    "attempt_timeout",
    "backoff_delay",
    "decide",
    "is_retryable",
    "parse_retry_after",
]

DEFAULT_RETRY_AFTER = 60.0
MAX_RETRY_AFTER = 86_400.0
# An attempt needs at least this much time before the deadline to be worth making.
MIN_ATTEMPT_WINDOW = 0.05


@dataclasses.dataclass(frozen=True)
class RetryPolicy:
    """How many retries, and the exponential backoff ``min(base * 2**n, cap)`` +- jitter."""

    max_retries: int = 3
    backoff_base: float = 1.0
    backoff_cap: float = 60.0
    jitter: float = 0.25


@dataclasses.dataclass(frozen=True)
class Decision:
    """``delay`` seconds before the next attempt, or None to give up; ``reason`` says why."""

    delay: float | None
    reason: str  # "retry", "not_retryable", "retries_exhausted", "deadline"


def backoff_delay(attempt: int, policy: RetryPolicy, rng: random.Random | None = None) -> float:
    """Delay before retry number ``attempt + 1`` (``attempt`` counts from 0)."""
    base = min(policy.backoff_base * (2.0 ** min(attempt, 62)), policy.backoff_cap)
    if policy.jitter <= 0 or base <= 0:
        return max(base, 0.0)
    spread = (rng or random).uniform(-policy.jitter, policy.jitter)
    return max(base * (1.0 + spread), 0.0)


def parse_retry_after(value: str | None, *, now: float) -> float:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date).

    ``now`` is the wall-clock time (``time.time()``) for the date form. Missing
    or unparsable values mean ``DEFAULT_RETRY_AFTER``; a date in the past means 0.
    """
    if value is None:
        return DEFAULT_RETRY_AFTER
    text = value.strip()
    if not text:
        return DEFAULT_RETRY_AFTER
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        if math.isfinite(seconds) and seconds >= 0:
            return min(seconds, MAX_RETRY_AFTER)
        return DEFAULT_RETRY_AFTER
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError, OverflowError):
        return DEFAULT_RETRY_AFTER
    if when.tzinfo is None:  # a "-0000" zone: HTTP dates are always UTC
        when = when.replace(tzinfo=timezone.utc)
    return min(max(when.timestamp() - now, 0.0), MAX_RETRY_AFTER)


def attempt_timeout(timeout: float, deadline: float | None, now: float) -> float | None:
    """The network timeout for one attempt: ``timeout`` clipped to the deadline.

    None when the deadline leaves no room for an attempt.
    """
    if deadline is None:
        return timeout
    remaining = deadline - now
    if remaining < MIN_ATTEMPT_WINDOW:
        return None
    return min(timeout, remaining)


def is_retryable(error: BaseException) -> bool:
    """429, 5xx and network failures are transient; everything else is final."""
    return isinstance(error, (RateLimitError, ServerError, NetworkError))


def decide(
    error: InfiniumError,
    *,
    attempt: int,
    policy: RetryPolicy,
    now: float,
    deadline: float | None,
    rng: random.Random | None = None,
) -> Decision:
    """Whether to retry after ``error`` on attempt ``attempt`` (0-based), and after how long."""
    if not is_retryable(error):
        return Decision(None, "not_retryable")
    if attempt >= policy.max_retries:
        return Decision(None, "retries_exhausted")
    if isinstance(error, RateLimitError):
        delay = max(float(error.retry_after), 0.0)
    else:
        delay = backoff_delay(attempt, policy, rng)
    if deadline is not None and now + delay + MIN_ATTEMPT_WINDOW > deadline:
        return Decision(None, "deadline")
    return Decision(delay, "retry")
