"""The one retry loop and the one poll loop, driven step by step without any I/O.

A scripted driver answers each ``Attempt`` and ``Sleep`` and moves a fake clock,
so the loops' decisions (what to send, how long to wait, when to give up) are
checked exactly. The sync and async clients run these same generators.
"""

from __future__ import annotations

import random
from collections.abc import Callable

import pytest

from infinium_otel.client import async_client, loop, sync_client
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.retry import RetryPolicy
from infinium_otel.client.wire import INTERPRETATION, TRACE, Request
from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    InfiniumTimeoutError,
    RateLimitError,
    ServerError,
)

POST = Request("POST", "/agents/a/trace", b"{}", TRACE)
GET = Request("GET", "/agents/a/interpreted-result/t", None, INTERPRETATION)
OK = ApiResponse(True, 201, "accepted", {"traceId": "t"})
NOT_READY = ApiResponse(False, 404, "interpretation not ready yet (404)", None)
READY = ApiResponse(True, 200, "interpretation ready", {"interpretedTraceResult": "fine"})

Answer = ApiResponse | InfiniumError | Callable[[], ApiResponse | InfiniumError]


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def drive(
    steps: loop.Steps,
    clock: Clock,
    answers: list[Answer],
    *,
    attempt_takes: float = 0.1,
    cancel_at_sleep: int | None = None,
) -> tuple[ApiResponse | InfiniumError, list[loop.Step]]:
    """Run ``steps`` against scripted answers; the result (or error) and every step taken."""
    taken: list[loop.Step] = []
    outcome: loop.Outcome = None
    sleeps = 0
    while True:
        try:
            step = steps.send(outcome)
        except StopIteration as done:
            return done.value, taken
        except InfiniumError as error:
            return error, taken
        taken.append(step)
        if isinstance(step, loop.Attempt):
            clock.now += min(attempt_takes, step.timeout)
            answer = answers.pop(0)
            outcome = answer() if callable(answer) else answer
        else:
            sleeps += 1
            if cancel_at_sleep == sleeps:
                outcome = True
            else:
                clock.now += step.seconds
                outcome = False


def call(
    clock: Clock,
    *,
    retries: int = 3,
    timeout: float = 10.0,
    deadline: float | None = None,
    cancelled: Callable[[], bool] = lambda: False,
    request: Request = POST,
) -> loop.Steps:
    return loop.call(
        request,
        policy=RetryPolicy(max_retries=retries, backoff_base=1.0, jitter=0.0),
        timeout=timeout,
        deadline=deadline,
        clock=clock,
        rng=random.Random(0),
        cancelled=cancelled,
    )


def test_transient_errors_are_retried_with_the_one_backoff() -> None:
    clock = Clock()
    answers: list[Answer] = [ServerError("x", status_code=503), ServerError("y"), OK]
    result, taken = drive(call(clock), clock, answers)
    assert result == OK
    assert [type(s).__name__ for s in taken] == ["Attempt", "Sleep", "Attempt", "Sleep", "Attempt"]
    assert [s.seconds for s in taken if isinstance(s, loop.Sleep)] == [1.0, 2.0]


def test_retry_after_sets_the_wait() -> None:
    clock = Clock()
    answers: list[Answer] = [RateLimitError("slow down", retry_after=7.0), OK]
    result, taken = drive(call(clock), clock, answers)
    assert result == OK
    assert taken[1] == loop.Sleep(7.0)


def test_final_errors_are_raised_at_once_and_say_why() -> None:
    clock = Clock()
    refused = AuthenticationError("no", status_code=401)
    result, taken = drive(call(clock), clock, [refused])
    assert result is refused
    assert refused.details["gave_up"] == "not_retryable"
    assert len(taken) == 1


def test_retries_stop_when_exhausted() -> None:
    clock = Clock()
    errors: list[Answer] = [ServerError(str(n)) for n in range(3)]
    result, taken = drive(call(clock, retries=2), clock, errors)
    assert isinstance(result, ServerError) and result.message == "2"
    assert result.details["gave_up"] == "retries_exhausted"
    assert sum(isinstance(s, loop.Attempt) for s in taken) == 3


def test_each_attempt_is_clipped_to_the_deadline_and_no_retry_overruns_it() -> None:
    clock = Clock()
    steps = call(clock, timeout=30.0, deadline=clock.now + 2.5)
    errors: list[Answer] = [ServerError("a"), ServerError("b"), ServerError("c")]
    result, taken = drive(steps, clock, errors, attempt_takes=0.2)
    attempts = [s for s in taken if isinstance(s, loop.Attempt)]
    assert attempts[0].timeout == pytest.approx(2.5)
    assert attempts[1].timeout == pytest.approx(2.5 - 0.2 - 1.0)
    assert isinstance(result, ServerError) and result.details["gave_up"] == "deadline"
    assert clock.now <= 1000.0 + 2.5


def test_a_passed_deadline_makes_no_attempt() -> None:
    clock = Clock()
    result, taken = drive(call(clock, deadline=clock.now - 1), clock, [])
    assert isinstance(result, InfiniumTimeoutError)
    assert taken == []


def test_cancellation_ends_a_backoff() -> None:
    clock = Clock()
    errors: list[Answer] = [ServerError("a"), OK]
    result, taken = drive(call(clock), clock, errors, cancel_at_sleep=1)
    assert isinstance(result, ServerError) and result.details["gave_up"] == "cancelled"
    assert sum(isinstance(s, loop.Attempt) for s in taken) == 1


def wait(clock: Clock, seconds: float, interval: float, retries: int = 0) -> loop.Steps:
    def poll(end: float) -> loop.Steps:
        return loop.call(
            GET,
            policy=RetryPolicy(max_retries=retries, backoff_base=1.0, jitter=0.0),
            timeout=10.0,
            deadline=None,
            clock=clock,
            rng=random.Random(0),
            cancelled=lambda: False,
            window_end=end,
        )

    return loop.wait(
        poll,
        wait_seconds=seconds,
        interval=interval,
        deadline=None,
        clock=clock,
        cancelled=lambda: False,
    )


def test_a_wait_polls_each_interval_until_ready() -> None:
    clock = Clock()
    result, taken = drive(wait(clock, 30.0, 3.0), clock, [NOT_READY, NOT_READY, READY])
    assert result == READY
    assert [s.seconds for s in taken if isinstance(s, loop.Sleep)] == [3.0, 3.0]


def test_a_wait_returns_the_last_answer_when_its_time_ends() -> None:
    clock = Clock()
    result, taken = drive(wait(clock, 4.0, 3.0), clock, [NOT_READY] * 5)
    assert isinstance(result, ApiResponse) and result.success is False
    assert "not ready after 4 s" in result.message
    sleeps = [s.seconds for s in taken if isinstance(s, loop.Sleep)]
    assert sleeps[0] == 3.0 and sum(sleeps) <= 4.0  # never sleeps past its time


def test_a_network_timeout_during_a_wait_raises() -> None:
    clock = Clock()
    timeout = InfiniumTimeoutError("slow", timeout_duration=10.0)
    result, _ = drive(wait(clock, 30.0, 3.0), clock, [NOT_READY, timeout])
    assert result is timeout


def test_both_clients_drive_the_shared_loops() -> None:
    # Neither client keeps a retry or poll loop of its own: the decisions live in ``loop``.
    for module in (sync_client, async_client):
        names = vars(module)
        assert "decide" not in names and "backoff_delay" not in names
        assert "attempt_timeout" not in names
        client = module.InfiniumClient if module is sync_client else module.AsyncInfiniumClient  # type: ignore[attr-defined]
        assert not hasattr(client, "_call")
