"""A finished run becomes the bytes to send: convert, let the hook see it, encode.

No threads and no I/O besides a log line: the delivery thread calls it, and
tests call it directly. Every way a run can fail to become a payload is a
``NotSent`` outcome, counted here, never an exception: a payload hook that
raises anything at all (even ``KeyboardInterrupt``) or returns something other
than a dict drops the run, which is never sent unredacted.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from infinium_otel._logging import RateLimitedLogger
from infinium_otel._version import __version__
from infinium_otel.delivery.items import Delivery, NotSent, RunMeta
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run

__all__ = ["PayloadHook", "RunPreparer"]

_log = logging.getLogger("infinium_otel.exporter")

PayloadHook = Callable[[dict[str, Any]], "dict[str, Any] | None"]


class RunPreparer:
    """``preparer(run)`` is a ``Delivery`` ready to send, or why there is none.

    ``counts()`` says how many runs became payloads (``runs_exported``), how
    many the hook dropped (``runs_dropped_by_hook``: returned None, raised, or
    returned a non-dict; ``runs_hook_failed`` counts the last two) and how many
    could not be converted or encoded (``runs_failed_conversion``).
    """

    def __init__(
        self,
        *,
        capture_content: bool = True,
        hook: PayloadHook | None = None,
        sdk_version: str = __version__,
    ) -> None:
        self._capture_content = capture_content
        self._hook = hook
        self._sdk_version = sdk_version
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            ("runs_exported", "runs_dropped_by_hook", "runs_hook_failed", "runs_failed_conversion"),
            0,
        )
        self._warn = RateLimitedLogger(_log)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return dict(self._counts)

    def reset_after_fork(self) -> None:
        """New locks: a fork may have copied them while another thread held them."""
        self._lock = threading.Lock()
        self._warn = RateLimitedLogger(_log)

    def __call__(self, run: Run) -> Delivery | NotSent:
        try:
            payload = convert_run(
                run, capture_content=self._capture_content, sdk_version=self._sdk_version
            )
        except Exception:
            _log.exception("Infinium exporter: could not convert a run; it was dropped")
            return self._count(NotSent.CONVERSION_FAILED)
        if self._hook is not None:
            hooked = self._apply_hook(payload)
            if isinstance(hooked, NotSent):
                return self._count(hooked)
            payload = hooked
        try:
            body = encode_payload(payload).body
        except Exception:
            _log.exception("Infinium exporter: could not encode a run; it was dropped")
            return self._count(NotSent.CONVERSION_FAILED)
        self._add("runs_exported")
        return Delivery(body=body, meta=_meta(run, payload))

    def _apply_hook(self, payload: dict[str, Any]) -> dict[str, Any] | NotSent:
        assert self._hook is not None
        try:
            hooked: object = self._hook(payload)
        except BaseException as error:  # the hook is user code: nothing escapes
            self._warn.log(
                logging.ERROR,
                "hook",
                "Infinium exporter: payload_hook raised %s; the run was dropped, not sent",
                type(error).__name__,
            )
            return NotSent.HOOK_FAILED
        if hooked is None:
            return NotSent.DROPPED_BY_HOOK
        if not isinstance(hooked, dict):
            self._warn.log(
                logging.ERROR,
                "hook-type",
                "Infinium exporter: payload_hook returned %s, not a dict or None; "
                "the run was dropped, not sent",
                type(hooked).__name__,
            )
            return NotSent.HOOK_FAILED
        return hooked

    def _count(self, outcome: NotSent) -> NotSent:
        if outcome is NotSent.CONVERSION_FAILED:
            self._add("runs_failed_conversion")
        else:
            self._add("runs_dropped_by_hook")
            if outcome is NotSent.HOOK_FAILED:
                self._add("runs_hook_failed")
        return outcome

    def _add(self, key: str) -> None:
        with self._lock:
            self._counts[key] += 1


def _meta(run: Run, payload: dict[str, Any]) -> RunMeta:
    """The run's identity, for the interpretation of its result."""
    context = run.root.context
    resource = run.root.resource
    service = resource.attributes.get("service.name") if resource is not None else None
    name = str(payload.get("name", run.root.name))
    return RunMeta(
        otel_trace_id=context.trace_id if context else 0,
        otel_span_id=context.span_id if context else 0,
        run_name=name,
        agent_name=name,
        service_name=str(service) if service is not None else None,
    )
