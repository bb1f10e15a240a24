"""``AsyncInfiniumClient``: the same calls as coroutines, never blocking the event loop.

The retry and poll loops are ``loop``'s, shared with the sync client. Each
single HTTP attempt runs in a worker thread (``asyncio.to_thread``) over the
client's ``requests.Session``; every wait between attempts and polls is an
``asyncio.sleep``. Cancelling the awaiting task stops further attempts; an
attempt already in flight ends by its own deadline.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from infinium_otel.client.core import ClientFacade
from infinium_otel.client.loop import Attempt, Outcome, Steps
from infinium_otel.client.response import ApiResponse
from infinium_otel.errors import InfiniumError

__all__ = ["AsyncInfiniumClient"]

# How often a sleep looks at a cancel event (threading.Event cannot be awaited).
_CANCEL_CHECK = 0.05


async def _sleep(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep ``seconds`` on the loop; True when ``cancel`` was set (the sleep ends early)."""
    if cancel is None:
        if seconds > 0:
            await asyncio.sleep(seconds)
        return False
    end = time.monotonic() + seconds
    while not cancel.is_set():
        remaining = end - time.monotonic()
        if remaining <= 0:
            return False
        await asyncio.sleep(min(remaining, _CANCEL_CHECK))
    return True


class AsyncInfiniumClient(ClientFacade):
    """Async twin of ``InfiniumClient``: same arguments, same results, same errors."""

    async def aclose(self) -> None:
        """Close the session; later calls raise ``InfiniumError``."""
        self._core.transport.close()

    async def __aenter__(self) -> AsyncInfiniumClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # API calls --------------------------------------------------------------------

    async def send_task_data(
        self,
        payload: Mapping[str, Any],
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """POST one trace payload; ``response.trace_id`` is the id Infinium gave it."""
        request = self._core.trace_request_from_payload(payload)
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return await self._run(steps, cancel)

    async def send_trace_bytes(
        self,
        body: bytes,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """POST an already serialised (UTF-8 JSON) trace payload."""
        request = self._core.trace_request(body)
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return await self._run(steps, cancel)

    async def get_interpreted_task_result(
        self,
        task_id: str,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """One poll: ``success`` with ``data["interpretedTraceResult"]`` when Maestro is done."""
        request = self._core.interpretation_request(task_id)
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return await self._run(steps, cancel)

    async def check_credentials(
        self,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """Verify the agent id and secret without sending a trace (as the sync client)."""
        request = self._core.credentials_request()
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return await self._run(steps, cancel)

    async def wait_for_interpretation(
        self,
        trace_id: str,
        timeout: float = 120.0,
        poll_interval: float = 3.0,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """Poll every ``poll_interval`` s until Maestro is done or ``timeout`` s have passed.

        Same contract as ``InfiniumClient.wait_for_interpretation``.
        """
        steps = self._core.wait_steps(
            trace_id,
            timeout,
            poll_interval,
            deadline=deadline,
            max_retries=max_retries,
            cancel=cancel,
        )
        return await self._run(steps, cancel)

    # Driving the loop -----------------------------------------------------------------

    async def _run(self, steps: Steps, cancel: threading.Event | None) -> ApiResponse:
        """Perform each step of a call's loop: attempts in a worker thread, sleeps on the loop."""
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                result: ApiResponse = done.value
                return result
            if isinstance(step, Attempt):
                try:
                    outcome = await asyncio.to_thread(
                        self._core.transport.perform, step.request, step.timeout
                    )
                except InfiniumError as error:
                    outcome = error
            else:
                outcome = await _sleep(step.seconds, cancel)
