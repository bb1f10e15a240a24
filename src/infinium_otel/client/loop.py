"""The client's retry loop and poll loop, once, without any I/O (sans-IO).

Each loop is a generator that yields what to do next, an ``Attempt`` (make
this request with this network timeout) or a ``Sleep`` (wait this long), and
receives what happened: the ``ApiResponse`` or ``InfiniumError`` of the
attempt, or whether the sleep was cut short by cancellation. It returns the
final ``ApiResponse`` or raises the final error. The sync and async clients
only drive it: they differ in how they perform an attempt and how they sleep.
"""

from __future__ import annotations

import dataclasses
import logging
import random
from collections.abc import Callable, Generator

from infinium_otel.client.response import ApiResponse
from infinium_otel.client.retry import (
    MIN_ATTEMPT_WINDOW,
    RetryPolicy,
    attempt_timeout,
    decide,
    is_retryable,
)
from infinium_otel.client.wire import Request
from infinium_otel.errors import InfiniumError, InfiniumTimeoutError
from infinium_otel.settings import MIN_POLL_INTERVAL

__all__ = ["Attempt", "Outcome", "Sleep", "Step", "Steps", "call", "earliest", "wait"]

logger = logging.getLogger("infinium_otel.client")


@dataclasses.dataclass(frozen=True)
class Attempt:
    """Make ``request`` once, with ``timeout`` seconds for the whole attempt."""

    request: Request
    timeout: float


@dataclasses.dataclass(frozen=True)
class Sleep:
    """Wait ``seconds`` (or less, when the call is cancelled meanwhile)."""

    seconds: float


Step = Attempt | Sleep
# Sent back for an Attempt: its ApiResponse or InfiniumError; for a Sleep: True when cancelled.
Outcome = ApiResponse | InfiniumError | bool | None
Steps = Generator[Step, Outcome, ApiResponse]


def earliest(*moments: float | None) -> float | None:
    """The earliest of the given monotonic moments (None when none is given)."""
    given = [moment for moment in moments if moment is not None]
    return min(given) if given else None


def _deadline_passed(request: Request) -> InfiniumTimeoutError:
    error = InfiniumTimeoutError(
        f"{request.method} {request.path}: the deadline passed before the request was made",
        timeout_duration=0.0,
    )
    error.details["gave_up"] = "deadline"
    return error


def call(
    request: Request,
    *,
    policy: RetryPolicy,
    timeout: float,
    deadline: float | None,
    clock: Callable[[], float],
    rng: random.Random,
    cancelled: Callable[[], bool],
    window_end: float | None = None,
) -> Steps:
    """Attempts until success, a final error, the deadline, or cancellation.

    ``deadline`` bounds every attempt's timeout; ``window_end`` (a wait's end)
    only bounds whether another retry is worth starting. A final error carries
    ``details["gave_up"]``: "not_retryable", "retries_exhausted", "deadline" or
    "cancelled".
    """
    retry_bound = earliest(deadline, window_end)
    attempt = 0
    while True:
        budget = attempt_timeout(timeout, deadline, clock())
        if budget is None:
            raise _deadline_passed(request)
        outcome = yield Attempt(request, budget)
        if isinstance(outcome, ApiResponse):
            return outcome
        if not isinstance(outcome, InfiniumError):
            raise TypeError(f"an Attempt needs an ApiResponse or an InfiniumError, got {outcome!r}")
        error = outcome
        decision = decide(
            error, attempt=attempt, policy=policy, now=clock(), deadline=retry_bound, rng=rng
        )
        if decision.delay is None:
            error.details["gave_up"] = decision.reason
            raise error
        if cancelled():
            error.details["gave_up"] = "cancelled"
            raise error
        logger.debug(
            "%s %s attempt %d failed (%s); retrying in %.2f s",
            request.method,
            request.path,
            attempt + 1,
            error.message,
            decision.delay,
        )
        if (yield Sleep(decision.delay)) is True:
            error.details["gave_up"] = "cancelled"
            raise error
        attempt += 1


def _not_ready(last: ApiResponse, reason: str) -> ApiResponse:
    """The last poll's answer, marked as the end of a wait without a result."""
    return dataclasses.replace(last, success=False, message=f"{reason}: {last.message}")


def _failed_poll(error: InfiniumError, waited: float) -> ApiResponse:
    return ApiResponse(
        False,
        error.status_code,
        f"interpretation not ready after {waited:g} s; the last poll failed: {error.message}",
        None,
    )


def wait(
    poll: Callable[[float], Steps],
    *,
    wait_seconds: float,
    interval: float,
    deadline: float | None,
    clock: Callable[[], float],
    cancelled: Callable[[], bool],
) -> Steps:
    """Poll every ``interval`` s until Maestro is done or ``wait_seconds`` have passed.

    ``poll(end)`` is one poll's retry loop, whose retries stop at ``end``.
    Returns the successful answer at once; when time runs out (or the call is
    cancelled) returns the last answer with ``success=False``. Raises
    ``InfiniumTimeoutError`` only for a network-level timeout, and the errors
    that are not transient (401, 403, 400) at once.
    """
    end = earliest(clock() + wait_seconds, deadline)
    assert end is not None
    while True:
        polled_at = clock()
        try:
            last = yield from poll(end)
        except InfiniumTimeoutError:
            raise
        except InfiniumError as error:
            if is_retryable(error) and error.details.get("gave_up") in ("deadline", "cancelled"):
                return _failed_poll(error, wait_seconds)
            raise
        if last.success:
            return last
        if cancelled():
            return _not_ready(last, "interpretation wait cancelled")
        remaining = end - clock()
        if remaining <= 0:
            return _not_ready(last, f"interpretation not ready after {wait_seconds:g} s")
        if (yield Sleep(min(interval, remaining))) is True:
            return _not_ready(last, "interpretation wait cancelled")
        if deadline is not None and deadline - clock() < MIN_ATTEMPT_WINDOW:
            return _not_ready(last, "interpretation not ready before the deadline")
        if clock() - polled_at < MIN_POLL_INTERVAL:
            # The timeout ended this last, shorter sleep: no extra, hastier poll.
            return _not_ready(last, f"interpretation not ready after {wait_seconds:g} s")
