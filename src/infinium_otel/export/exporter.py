"""``InfiniumSpanExporter``: finished agent runs become Infinium traces.

``export()`` runs on the batch processor's thread and only assembles: it adds
spans to the run buffer and hands finished runs, unconverted, to the delivery
worker. Conversion, the payload hook, encoding and HTTP all happen on the
worker's thread (see ``delivery/worker.py``), never on the batch processor's
thread nor on the thread that calls flush or shutdown. ``export()`` never
raises and always reports success for spans it accepted, and it stays cheap,
so neither a slow endpoint, a slow hook nor a burst of spans makes the batch
processor's queue overflow.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from infinium_otel.client.agents import AgentClients
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.items import RunMeta
from infinium_otel.delivery.spool import Spool
from infinium_otel.delivery.worker import DeliveryListener, DeliveryWorker
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.buffer import RunBuffer
from infinium_otel.export.nesting import NestingTracker, attach_tracker, feeds
from infinium_otel.export.prepare import PayloadHook, RunPreparer, RunRouter, run_router
from infinium_otel.export.telemetry import register_metrics
from infinium_otel.interpretation import InterpretationProcessor, InterpretationRequest
from infinium_otel.settings import Settings

__all__ = ["InfiniumSpanExporter", "PayloadHook", "retry_window"]

_log = logging.getLogger("infinium_otel.exporter")

# While spans of open runs are buffered, the delivery thread looks this often
# for trees past their time-to-live.
EXPIRY_INTERVAL = 1.0

# The shortest time a payload is retried for without a spool (429, 5xx, network).
MIN_RETRY_WINDOW = 10.0

_SHUTDOWN_REASON = "exporter shut down before the root span ended"

InterpretationOption = InterpretationProcessor | Iterable[str] | str | bool | None


def retry_window(settings: Settings) -> float:
    """How long a payload is retried: what ``max_retries`` full timeouts take, at least 10 s."""
    return max(settings.timeout * (settings.max_retries + 1), MIN_RETRY_WINDOW)


class InfiniumSpanExporter(SpanExporter):
    """Assembles agent runs from spans and sends each as one Infinium trace.

    With no arguments every setting comes from ``INFINIUM_*`` variables, so
    ``OTEL_TRACES_EXPORTER=infinium`` works. ``interpretation`` is a processor,
    a list of sinks (``"log"``, ``"span_event"``), ``False`` to disable, or
    ``None`` to follow ``INFINIUM_INTERPRETATION``. ``payload_hook`` may redact
    a payload (return it) or drop it (return ``None``); if it raises or returns
    anything else, the run is dropped, never sent unredacted.

    With a routing table (``routes``, ``INFINIUM_ROUTES``) each run is sent with
    its agent's credentials, one client per agent; the default credentials are
    then optional, and a run no route matches without them is dropped
    (``runs_unrouted``).
    """

    def __init__(
        self,
        *,
        settings: Settings | None = None,
        client: InfiniumClient | None = None,
        interpretation: InterpretationOption = None,
        payload_hook: PayloadHook | None = None,
        **settings_overrides: Any,
    ) -> None:
        if settings is None:
            settings = Settings.load(**settings_overrides)
        elif settings_overrides:
            settings = settings.override(**settings_overrides)
        self._settings = settings
        self._closed = False
        self._shutdown_result = True
        self._counter_lock = threading.Lock()
        self._counters: dict[str, int] = {"export_errors": 0}
        if not settings.disabled and settings.routes is None:
            settings.require_credentials()
        self._clients = AgentClients(settings, default=client)
        if not settings.disabled and self._clients.default_agent_id is not None:
            self._clients.get(None)  # made now, as without routes
        self._preparer = RunPreparer(
            capture_content=settings.capture_content,
            hook=payload_hook,
            router=self._router(),
        )
        self._tracker = NestingTracker()
        self._assembler = RunAssembler(
            max_buffered_spans=settings.max_buffered_spans,
            max_spans_per_run=settings.max_spans_per_run,
            run_ttl=settings.run_ttl,
            nested=self._tracker.verdict,
            live=self._tracker.live_snapshot,
        )
        self._buffer = RunBuffer(self._assembler)
        self._interpretation: InterpretationProcessor | None = None
        self._delivery: DeliveryWorker | None = None
        if settings.disabled:
            return
        self._interpretation = self._make_interpretation(interpretation)
        self._delivery = DeliveryWorker(
            self._clients,
            max_queue=settings.max_queued_payloads,
            max_concurrent_sends=settings.max_concurrent_sends,
            retry_window=retry_window(settings),
            prepare=self._preparer,
            source=self._buffer,
            expiry_interval=min(EXPIRY_INTERVAL, settings.run_ttl / 4),
            spool=Spool(
                settings.spool_dir,
                max_bytes=settings.spool_max_bytes,
                max_files=settings.spool_max_files,
            )
            if settings.spool_dir
            else None,
        )
        if self._interpretation is not None:
            self._delivery.add_listener(interpretation_listener(self._interpretation))
        register_metrics(self.stats)
        ref = weakref.ref(self)
        os.register_at_fork(after_in_child=lambda: _after_fork(ref))

    def __repr__(self) -> str:
        return (
            f"InfiniumSpanExporter(agent_id={self._settings.agent_id!r}, "
            f"base_url={self._settings.base_url!r}, disabled={self._settings.disabled})"
        )

    @property
    def settings(self) -> Settings:
        return self._settings

    @property
    def interpretation(self) -> InterpretationProcessor | None:
        return self._interpretation

    @property
    def nesting_tracker(self) -> NestingTracker:
        """This exporter's span processor that tells sub-agents apart early (optional)."""
        return self._tracker

    # -- SpanExporter ------------------------------------------------------

    def export(
        self, spans: Sequence[ReadableSpan], *, sizes: Sequence[int] | None = None
    ) -> SpanExportResult:
        """Take finished spans; ``sizes``, each one's ``estimate_span_bytes`` when the
        caller already has it (the gateway), spares sizing them again."""
        try:
            # The tracker's end bookkeeping, here on the exporter's thread when the tracker
            # rides the batch processor (a no-op for spans it already saw end).
            self._tracker.ended_all(spans)
        except Exception:
            self._count("export_errors")
            _log.exception("Infinium exporter: the nesting tracker failed on a batch")
        if self._closed:
            return SpanExportResult.FAILURE
        if self._delivery is None:  # disabled
            return SpanExportResult.SUCCESS
        try:
            if not self._tracker.attached:  # the fast path, when the global provider feeds us
                provider = trace.get_tracer_provider()
                if feeds(provider, self):
                    attach_tracker(provider, self)
            runs, buffered = self._buffer.add(spans, time.monotonic(), sizes)
            if runs:
                self._delivery.submit_all(runs)
            if buffered:
                self._delivery.watch()
        except Exception:
            self._count("export_errors")
            _log.exception("Infinium exporter: export failed; the batch was dropped")
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait for every finished run to be sent; True only when all were accepted.

        Runs the payload hook chose to drop count as done. Runs still in
        progress stay buffered: a flush from one thread (a web request ending,
        say) must not cut another thread's live run in two. They go out when
        their root ends, after ``run_ttl``, or at shutdown.
        """
        if self._delivery is None:
            return True
        return self._delivery.flush(max(0.0, timeout_millis / 1000))

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Send buffered runs, deliver within the time given, stop the threads."""
        self.shutdown_report(timeout_millis / 1000)

    def shutdown_report(self, timeout: float = 30.0) -> bool:
        """``shutdown`` that says whether every run was accepted; returns by its deadline."""
        if self._closed:
            return self._shutdown_result
        deadline = time.monotonic() + max(0.0, timeout)
        self._closed = True
        if self._delivery is None:
            return True
        self._delivery.submit_all(self._buffer.drain(_SHUTDOWN_REASON))
        delivered = self._delivery.shutdown(max(0.0, deadline - time.monotonic()))
        if self._interpretation is not None:
            self._interpretation.shutdown(max(0.0, min(1.0, deadline - time.monotonic())))
        self._shutdown_result = delivered
        return delivered

    # -- counters ----------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters of runs and spans, for diagnosis and self-telemetry."""
        with self._counter_lock:
            result = dict(self._counters)
        result.update(self._preparer.counts())
        result.update(self._buffer.stats())
        if self._delivery is not None:
            result.update({f"delivery_{k}": v for k, v in vars(self._delivery.stats).items()})
            result["delivery_pending"] = self._delivery.pending
        return result

    def backlog(self) -> tuple[int, int]:
        """(spans buffered for assembly, runs waiting for delivery): what a feeder such as
        the gateway checks before giving more, without the full copy ``stats()`` makes.
        The same numbers as ``spans_buffered`` and ``delivery_pending`` there."""
        pending = self._delivery.pending if self._delivery is not None else 0
        return self._buffer.buffered_spans, pending

    def add_room_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener()`` whenever a run leaves the delivery backlog (``backlog()``'s
        second number fell), so a feeder waiting for room is woken rather than polling.
        It runs on a delivery thread with the delivery lock held: it must only signal."""
        if self._delivery is not None:
            self._delivery.add_room_listener(listener)

    # -- internals ---------------------------------------------------------

    def _router(self) -> RunRouter | None:
        """Each run's agent by the routing table; None without one (all runs: the default)."""
        table = self._settings.routes
        if table is None or self._settings.disabled:
            return None
        return run_router(table, self._clients.default_agent_id)

    def _make_interpretation(self, option: InterpretationOption) -> InterpretationProcessor | None:
        if isinstance(option, InterpretationProcessor):
            if self._settings.routes is not None:  # runs of several agents reach it
                option._route_polls(self._clients.clone())
            return option
        sinks = self._settings.interpretation_sinks(option)
        if not sinks:
            return None
        # With routes in the settings, the processor makes one client per agent itself.
        default = self._clients.get(None)
        return InterpretationProcessor(
            client=default.clone() if default is not None else None,
            settings=self._settings,
            sinks=sinks,
        )

    def _count(self, key: str) -> None:
        with self._counter_lock:
            self._counters[key] += 1

    def _reset_after_fork(self) -> None:
        """The one fork hook: the child starts with its own locks, worker and buffers.

        Order: our counters, the preparer, the run buffer (forgetting the
        parent's spans), the delivery worker (empty queue, new session and
        thread), then the nesting tracker.
        """
        self._counter_lock = threading.Lock()
        self._preparer.reset_after_fork()
        self._buffer.reset_after_fork()
        if self._delivery is not None:
            self._delivery.reset_after_fork()
        self._tracker.forget_all()


def interpretation_listener(processor: InterpretationProcessor) -> DeliveryListener:
    """A delivery listener that asks ``processor`` to poll for each accepted run's result."""

    def on_accepted(meta: RunMeta, response: ApiResponse) -> None:
        trace_id = response.trace_id
        if not trace_id:
            return
        processor.submit(
            InterpretationRequest(
                infinium_trace_id=trace_id,
                otel_trace_id=meta.otel_trace_id,
                otel_span_id=meta.otel_span_id,
                agent_name=meta.agent_name,
                service_name=meta.service_name,
                agent_id=meta.agent_id,
            )
        )

    return on_accepted


def _after_fork(ref: weakref.ReferenceType[InfiniumSpanExporter]) -> None:
    exporter = ref()
    if exporter is not None:
        exporter._reset_after_fork()
