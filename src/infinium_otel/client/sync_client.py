"""``InfiniumClient``: the synchronous Infinium API client (see docs/client.md).

One ``requests.Session`` per client; every call runs within one retry policy
and one optional deadline, and can be cancelled between attempts. The retry
and poll loops are ``loop``'s, shared with the async client; this client
performs each attempt on the calling thread and sleeps with ``time.sleep`` (or
on the cancel event). A client is safe to share between threads but not across
``fork``: build a new one in the child (``clone()``).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from infinium_otel.client.core import ClientFacade
from infinium_otel.client.loop import Attempt, Outcome, Steps
from infinium_otel.client.response import ApiResponse
from infinium_otel.errors import InfiniumError

__all__ = ["InfiniumClient"]


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
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return self._run(steps, cancel)

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
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return self._run(steps, cancel)

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
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return self._run(steps, cancel)

    def check_credentials(
        self,
        *,
        deadline: float | None = None,
        max_retries: int | None = None,
        cancel: threading.Event | None = None,
    ) -> ApiResponse:
        """Verify the agent id and secret without sending a trace.

        ``success`` only when the Infinium API itself answered (its interpreted-result
        JSON, or its "trace not found"); 401/403 raise, and so does any other answer
        (``UnexpectedResponseError`` for a web page or a wrong path).
        """
        request = self._core.credentials_request()
        steps = self._core.call_steps(
            request, deadline=deadline, max_retries=max_retries, cancel=cancel
        )
        return self._run(steps, cancel)

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
        steps = self._core.wait_steps(
            trace_id,
            timeout,
            poll_interval,
            deadline=deadline,
            max_retries=max_retries,
            cancel=cancel,
        )
        return self._run(steps, cancel)

    # Driving the loop -----------------------------------------------------------------

    def _run(self, steps: Steps, cancel: threading.Event | None) -> ApiResponse:
        """Perform each step of a call's loop on this thread; its result or its error."""
        outcome: Outcome = None
        while True:
            try:
                step = steps.send(outcome)
            except StopIteration as done:
                result: ApiResponse = done.value
                return result
            if isinstance(step, Attempt):
                try:
                    outcome = self._core.transport.perform(step.request, step.timeout)
                except InfiniumError as error:
                    outcome = error
            else:
                outcome = _sleep(step.seconds, cancel)
