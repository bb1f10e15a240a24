"""``InfiniumClient``: the synchronous Infinium API client (see docs/client.md).

One ``requests.Session`` per client; every call runs within one retry policy
and one optional deadline, and can be cancelled between attempts. A client is
safe to share between threads but not across ``fork``: build a new one in the
child (``clone()``).
"""

from __future__ import annotations

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

__all__ = ["InfiniumClient"]

logger = logging.getLogger("infinium_otel.client")


def _sleep(seconds: float, cancel: threading.Event | None) -> bool:
    """Sleep ``seconds``; True when ``cancel`` was set (the sleep ends at once)."""
    if seconds <= 0:
        return cancel is not None and cancel.is_set()
    if cancel is None:
        time.sleep(seconds)
        return False
    return cancel.wait(seconds)


class InfiniumClient(ClientFacade):
    """Send traces to Infinium and read Maestro's interpretations.

    Arguments left as None come from ``settings`` when given, else from the
    ``INFINIUM_*`` environment. ``backoff_base`` is the first retry delay in
    seconds; ``ca_bundle`` a CA file for TLS verification.
    """

    # Lifecycle --------------------------------------------------------------------

    def close(self) -> None:
        """Close the session; later calls raise ``InfiniumError``."""
        self._core.transport.close()

    def __enter__(self) -> InfiniumClient:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    # API calls --------------------------------------------------------------------

    def send_task_data(
        self,
        payload: Mapping[str, Any],
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """POST one trace payload; ``response.trace_id`` is the id Infinium gave it."""
        request = self._core.trace_request_from_payload(payload)
        return self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

    def send_trace_bytes(
        self,
        body: bytes,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """POST an already serialised (UTF-8 JSON) trace payload."""
        request = self._core.trace_request(body)
        return self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

    def get_interpreted_task_result(
        self,
        task_id: str,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """One poll: ``success`` with ``data["interpretedTraceResult"]`` when Maestro is done.

        Not ready (a 404, or an answer without a result) is ``success=False``, not an error.
        """
        request = self._core.interpretation_request(task_id)
        return self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

    def check_credentials(
        self,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """Verify the agent id and secret without sending a trace (401/403 raise)."""
        request = self._core.credentials_request()
        return self._call(request, deadline=deadline, max_retries=max_retries, cancel=cancel)

    def wait_for_interpretation(
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

        Returns the successful response at once; when time runs out (or ``cancel``
        is set) returns the last response with ``success=False``. Raises
        ``InfiniumTimeoutError`` only for a network-level timeout.
        """
        wait, interval = ClientCore.check_wait_args(timeout, poll_interval)
        request = self._core.interpretation_request(trace_id, "trace_id")
        hard = ClientCore.check_deadline(deadline)
        end = earliest(time.monotonic() + wait, hard)
        assert end is not None
        while True:
            polled_at = time.monotonic()
            try:
                last = self._call(
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
            if _sleep(min(interval, remaining), cancel):
                return not_ready(last, "interpretation wait cancelled")
            if hard is not None and hard - time.monotonic() < MIN_ATTEMPT_WINDOW:
                return not_ready(last, "interpretation not ready before the deadline")
            if time.monotonic() - polled_at < MIN_POLL_INTERVAL:
                # The timeout ended this last, shorter sleep: no extra, hastier poll.
                return not_ready(last, f"interpretation not ready after {wait:g} s")

    # The retry loop -----------------------------------------------------------------

    def _call(
        self,
        request: transport.Request,
        *,
        deadline: float | None,
        max_retries: int | None,
        cancel: threading.Event | None,
        window_end: float | None = None,
    ) -> ApiResponse:
        """Attempts until success, a final error, the deadline, or cancellation."""
        policy = self._core.policy(max_retries)
        hard = ClientCore.check_deadline(deadline)
        retry_bound = earliest(hard, window_end)
        attempt = 0
        while True:
            timeout = attempt_timeout(self._core.timeout, hard, time.monotonic())
            if timeout is None:
                raise deadline_passed(request)
            try:
                return self._core.transport.perform(request, timeout)
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
            if _sleep(delay, cancel):
                last_error.details["gave_up"] = "cancelled"
                raise last_error
            attempt += 1
