"""``AsyncInfiniumClient``: the same calls as coroutines, never blocking the event loop.

Each single HTTP attempt runs in a worker thread (``asyncio.to_thread``) over
the client's ``requests.Session``; every wait between attempts and polls is an
``asyncio.sleep``. Cancelling the awaiting task stops further attempts; an
attempt already in flight ends at its network timeout.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from infinium_otel.client import transport
from infinium_otel.client.core import ClientCore, ClientFacade, deadline_passed, earliest, not_ready
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.retry import MIN_ATTEMPT_WINDOW, attempt_timeout, decide, is_retryable
from infinium_otel.errors import InfiniumError, InfiniumTimeoutError
from infinium_otel.settings import MIN_POLL_INTERVAL

__all__ = ["AsyncInfiniumClient"]

logger = logging.getLogger("infinium_otel.client")

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
        return await self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

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
        return await self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

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
        return await self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

    async def check_credentials(
        self,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """Verify the agent id and secret without sending a trace (401/403 raise)."""
        request = self._core.credentials_request()
        return await self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

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
        wait, interval = ClientCore.check_wait_args(timeout, poll_interval)
        request = self._core.interpretation_request(trace_id, "trace_id")
        hard = ClientCore.check_deadline(deadline)
        end = earliest(time.monotonic() + wait, hard)
        assert end is not None
        while True:
            polled_at = time.monotonic()
            try:
                last = await self._call(
                    request, deadline=hard, max_retries=max_retries, cancel=cancel, window_end=end
                )
            except InfiniumTimeoutError:
                raise
            except InfiniumError as error:
                if is_retryable(error) and ClientCore.gave_up_on_window(error):
                    return ClientCore.failed_poll_response(error, wait)
                raise
            if last.success:
                return last
            remaining = end - time.monotonic()
            if cancel is not None and cancel.is_set():
                return not_ready(last, "interpretation wait cancelled")
            if remaining <= 0:
                return not_ready(last, f"interpretation not ready after {wait:g} s")
            if await _sleep(min(interval, remaining), cancel):
                return not_ready(last, "interpretation wait cancelled")
            if hard is not None and hard - time.monotonic() < MIN_ATTEMPT_WINDOW:
                return not_ready(last, "interpretation not ready before the deadline")
            if time.monotonic() - polled_at < MIN_POLL_INTERVAL:
                # The timeout ended this last, shorter sleep: no extra, hastier poll.
                return not_ready(last, f"interpretation not ready after {wait:g} s")

    # The retry loop -----------------------------------------------------------------

    async def _call(
        self,
        request: transport.Request,
        *,
        deadline: float | None,
        max_retries: int | None,
        cancel: threading.Event | None,
        window_end: float | None = None,
    ) -> ApiResponse:
        """Attempts, each in a worker thread, until success, a final error, deadline or cancel."""
        policy = self._core.policy(max_retries)
        hard = ClientCore.check_deadline(deadline)
        retry_bound = earliest(hard, window_end)
        attempt = 0
        while True:
            timeout = attempt_timeout(self._core.timeout, hard, time.monotonic())
            if timeout is None:
                raise deadline_passed(request)
            try:
                return await asyncio.to_thread(self._core.transport.perform, request, timeout)
            except InfiniumError as error:
                decision = decide(
                    error,
                    attempt=attempt,
                    policy=policy,
                    now=time.monotonic(),
                    deadline=retry_bound,
                    rng=self._core.rng,
                )
                if decision.delay is None:
                    error.details["gave_up"] = decision.reason
                    raise
                if cancel is not None and cancel.is_set():
                    error.details["gave_up"] = "cancelled"
                    raise
                last_error = error
                delay = decision.delay
            logger.debug(
                "%s %s attempt %d failed (%s); retrying in %.2f s",
                request.method,
                request.path,
                attempt + 1,
                last_error.message,
                delay,
            )
            if await _sleep(delay, cancel):
                last_error.details["gave_up"] = "cancelled"
                raise last_error
            attempt += 1
