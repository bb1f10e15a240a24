"""A finished run becomes the bytes to send: convert, let the hook see it, encode.

No threads and no I/O besides a log line: the delivery thread calls it, and
tests call it directly. Every way a run can fail to become a payload is a
``NotSent`` outcome, counted here, never an exception: a payload hook that
raises anything at all (even ``KeyboardInterrupt``) or returns something other
than a dict drops the run, which is never sent unredacted.
"""

from __future__ import annotations

import dataclasses
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
from infinium_otel.routing import RoutingTable

__all__ = ["PayloadHook", "RunPreparer", "RunRouter", "run_router"]

_log = logging.getLogger("infinium_otel.exporter")

PayloadHook = Callable[[dict[str, Any]], "dict[str, Any] | None"]
# A run's agent id, or None when no route matches and there is no default agent.
RunRouter = Callable[[Run], "str | None"]


def run_router(table: RoutingTable, default_agent_id: str | None) -> RunRouter:
    """Route by the root span's attributes, then its resource's; else the default agent."""
    default = default_agent_id.lower() if default_agent_id else None

    def route(run: Run) -> str | None:
        root = run.root
        resource = root.resource.attributes if root.resource is not None else {}
        found = table.route_for(root.attributes or {}, resource)
        return found.agent_id if found is not None else default

    return route


class RunPreparer:
    """``preparer(run)`` is a ``Delivery`` ready to send, or why there is none.

    ``counts()`` says how many runs became payloads (``runs_exported``), how
    many the hook dropped (``runs_dropped_by_hook``: returned None, raised, or
    returned a non-dict; ``runs_hook_failed`` counts the last two) and how many
    could not be converted or encoded (``runs_failed_conversion``). With a
    ``router``, each payload names its agent, and a run no route (nor default
    agent) takes is dropped before conversion (``runs_unrouted``).
    """

    def __init__(
        self,
        *,
        capture_content: bool = True,
        hook: PayloadHook | None = None,
        sdk_version: str = __version__,
        router: RunRouter | None = None,
    ) -> None:
        self._capture_content = capture_content
        self._hook = hook
        self._router = router
        self._unrouted_logged = False
        self._sdk_version = sdk_version
        self._lock = threading.Lock()
        self._counts = dict.fromkeys(
            (
                "runs_exported",
                "runs_dropped_by_hook",
                "runs_hook_failed",
                "runs_failed_conversion",
                "runs_unrouted",
            ),
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
        agent_id = None
        if self._router is not None:
            agent_id = self._route(run)
            if agent_id is None:
                return self._count(NotSent.UNROUTED)
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
            # Straight from conversion (no hook): already in contract order.
            body = encode_payload(payload, ordered=self._hook is None).body
        except Exception:
            _log.exception("Infinium exporter: could not encode a run; it was dropped")
            return self._count(NotSent.CONVERSION_FAILED)
        self._add("runs_exported")
        meta = _meta(run, payload)
        if agent_id is not None:
            meta = dataclasses.replace(meta, agent_id=agent_id)
        return Delivery(body=body, meta=meta)

    def _route(self, run: Run) -> str | None:
        """The run's agent; None (logged the first time) when it has none."""
        try:
            assert self._router is not None
            agent_id = self._router(run)
        except Exception:
            _log.exception("Infinium exporter: routing a run failed; it was dropped")
            return None
        if agent_id is None:
            with self._lock:
                first, self._unrouted_logged = not self._unrouted_logged, True
            if first:
                _log.warning(
                    "Infinium exporter: run %r matches no route and there are no default "
                    "credentials (INFINIUM_AGENT_ID / INFINIUM_AGENT_SECRET); it was dropped, "
                    "not sent. Further such runs are only counted in stats()['runs_unrouted'].",
                    run.root.name,
                )
        return agent_id

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
        elif outcome is NotSent.UNROUTED:
            self._add("runs_unrouted")
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
