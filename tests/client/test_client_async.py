"""What only the async client can show: the event loop keeps running during its calls."""

from __future__ import annotations

import asyncio
import threading
import time

import pytest

from infinium_otel.client.async_client import AsyncInfiniumClient
from infinium_otel.errors import ServerError
from infinium_otel.sandbox import Fault, Sandbox

from .conftest import FAST_BACKOFF, VALID_PAYLOAD


def _client(sandbox: Sandbox, **overrides: float) -> AsyncInfiniumClient:
    options = {"timeout": 5.0, "backoff_base": FAST_BACKOFF, **overrides}
    return AsyncInfiniumClient(
        sandbox.agent_id,
        sandbox.agent_secret,
        sandbox.url,
        timeout=options["timeout"],
        backoff_base=options["backoff_base"],
    )


async def _count_ticks_during(awaitable: object, period: float = 0.02) -> int:
    """Run a ticker beside ``awaitable``; how many times it ticked before that finished."""
    ticks = 0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not done.is_set():
            await asyncio.sleep(period)
            ticks += 1

    task = asyncio.create_task(ticker())
    try:
        await awaitable  # type: ignore[misc]
    finally:
        done.set()
        await task
    return ticks


def test_a_slow_request_does_not_block_the_event_loop(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=201, body={"traceId": "slow"}, delay=1.0))

    async def run() -> int:
        async with _client(sandbox) as client:
            return await _count_ticks_during(client.send_task_data(VALID_PAYLOAD))

    ticks = asyncio.run(run())
    assert ticks >= 10  # about 50 when nothing blocks; 0 or 1 if the loop were blocked


def test_backoff_and_polling_sleep_on_the_loop(sandbox: Sandbox) -> None:
    sandbox.interpretation_delay = 60.0
    sandbox.faults.push("trace", Fault(status=503))

    async def run() -> tuple[int, int]:
        async with _client(sandbox, backoff_base=0.5) as client:
            sending = client.send_task_data(VALID_PAYLOAD)  # 503, a 0.5 s backoff, then 201
            during_backoff = await _count_ticks_during(sending)
            trace_id = sandbox.traces()[0].trace_id
            waiting = client.wait_for_interpretation(trace_id, timeout=1.0, poll_interval=1.0)
            return during_backoff, await _count_ticks_during(waiting)

    during_backoff, during_wait = asyncio.run(run())
    assert during_backoff >= 5
    assert during_wait >= 10


def test_concurrent_polls_share_one_client(sandbox: Sandbox) -> None:
    sandbox.interpretation_delay = 0.0

    async def run() -> list[bool]:
        async with _client(sandbox) as client:
            ids = [(await client.send_task_data(VALID_PAYLOAD)).trace_id for _ in range(4)]
            results = await asyncio.gather(
                *(client.wait_for_interpretation(str(i), timeout=10, poll_interval=1) for i in ids)
            )
            return [r.success for r in results]

    assert asyncio.run(run()) == [True, True, True, True]


def test_cancelling_the_task_stops_the_retries(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=10))

    async def run() -> None:
        async with _client(sandbox, backoff_base=30.0) as client:
            task = asyncio.create_task(client.send_task_data(VALID_PAYLOAD))
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

    started = time.monotonic()
    asyncio.run(run())
    assert time.monotonic() - started < 5.0
    assert len([r for r in sandbox.requests if r.endpoint == "trace"]) == 1


def test_a_cancel_event_set_from_another_thread_ends_the_backoff(sandbox: Sandbox) -> None:
    sandbox.faults.push("trace", Fault(status=503, repeat=10))
    cancel = threading.Event()

    async def run() -> ServerError:
        async with _client(sandbox, backoff_base=30.0) as client:
            threading.Timer(0.3, cancel.set).start()
            with pytest.raises(ServerError) as info:
                await client.send_task_data(VALID_PAYLOAD, cancel=cancel)
            return info.value

    started = time.monotonic()
    error = asyncio.run(run())
    assert time.monotonic() - started < 5.0
    assert error.details["gave_up"] == "cancelled"
