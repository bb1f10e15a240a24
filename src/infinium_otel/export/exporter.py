"""``InfiniumSpanExporter``: finished agent runs become Infinium traces.

``export()`` runs on the batch processor's thread and only assembles runs and
hands finished ones over; conversion, the payload hook, encoding and HTTP
happen on the delivery thread. It never raises and always reports success for
spans it accepted, and it stays cheap, so neither a slow endpoint nor a burst
of spans makes the batch processor's queue overflow.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export import SpanExporter, SpanExportResult

from infinium_otel._logging import RateLimitedLogger
from infinium_otel._version import __version__
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.spool import Spool
from infinium_otel.delivery.worker import Delivery, DeliveryWorker, RunMeta
from infinium_otel.export.assembly import RunAssembler
from infinium_otel.export.nesting import NestingTracker, attach_tracker, feeds
from infinium_otel.export.telemetry import register_metrics
from infinium_otel.interpretation import InterpretationProcessor, InterpretationRequest
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.run import Run
from infinium_otel.settings import Settings

__all__ = ["InfiniumSpanExporter", "PayloadHook"]

_log = logging.getLogger("infinium_otel.exporter")

PayloadHook = Callable[[dict[str, Any]], "dict[str, Any] | None"]

# Finished runs wake the delivery thread at once; while spans of open runs are
# buffered it also looks this often for trees past their time-to-live.
EXPIRY_INTERVAL = 1.0

InterpretationOption = InterpretationProcessor | Iterable[str] | str | bool | None


class InfiniumSpanExporter(SpanExporter):
    """Assembles agent runs from spans and sends each as one Infinium trace.

    With no arguments every setting comes from ``INFINIUM_*`` variables, so
    ``OTEL_TRACES_EXPORTER=infinium`` works. ``interpretation`` is a processor,
    a list of sinks (``"log"``, ``"span_event"``), ``False`` to disable, or
    ``None`` to follow ``INFINIUM_INTERPRETATION``. ``payload_hook`` may redact
    a payload (return it) or drop it (return ``None``); if it raises, the run
    is dropped, never sent unredacted.
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
            settings = Settings.load(**{**_explicit(settings), **settings_overrides})
        self._settings = settings
        self._hook = payload_hook
        self._lock = threading.Lock()
        # Finished runs waiting for the delivery thread to convert them; bounded like
        # the delivery queue. ``_ship_lock`` makes "taken but not yet queued" visible
        # to flush, which takes it too.
        self._finished: deque[Run] = deque()
        self._ship_lock = threading.Lock()
        self._closed = False
        self._warn = RateLimitedLogger(_log)
        self._counter_lock = threading.Lock()
        self._counters: dict[str, int] = {
            "runs_exported": 0,
            "runs_dropped_by_hook": 0,
            "runs_failed_conversion": 0,
            "export_errors": 0,
        }
        self._tracker = NestingTracker()
        self._assembler = RunAssembler(
            max_buffered_spans=settings.max_buffered_spans,
            max_spans_per_run=settings.max_spans_per_run,
            run_ttl=settings.run_ttl,
            nested=self._tracker.verdict,
            live=self._tracker.live_snapshot,
        )
        self._interpretation: InterpretationProcessor | None = None
        self._delivery: DeliveryWorker | None = None
        if settings.disabled:
            return
        settings.require_credentials()
        self._client = client if client is not None else InfiniumClient.from_settings(settings)
        self._interpretation = self._make_interpretation(interpretation)
        self._delivery = DeliveryWorker(
            self._client,
            max_queue=settings.max_queued_payloads,
            retry_window=max(settings.timeout * (settings.max_retries + 1), 10.0),
            on_delivered=self._on_delivered,
            on_tick=self._tick,
            tick_interval=min(EXPIRY_INTERVAL, settings.run_ttl / 4),
            spool=Spool(
                settings.spool_dir,
                max_bytes=settings.spool_max_bytes,
                max_files=settings.spool_max_files,
            )
            if settings.spool_dir
            else None,
        )
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

    def export(self, spans: Sequence[ReadableSpan]) -> SpanExportResult:
        if self._closed:
            return SpanExportResult.FAILURE
        if self._delivery is None:  # disabled
            return SpanExportResult.SUCCESS
        try:
            if not self._tracker.attached:  # the fast path, when the global provider feeds us
                provider = trace.get_tracer_provider()
                if feeds(provider, self):
                    attach_tracker(provider, self)
            now = time.monotonic()
            with self._lock:
                runs = self._assembler.add(spans, now)
                runs.extend(self._assembler.expire(now))
                buffered = self._assembler.buffered_spans
            overflow = self._hand_over(runs)
            if overflow:  # the delivery thread is far behind: convert here, never lose
                self._ship_all(overflow)
            if runs:
                self._delivery.wake()
            elif buffered or self._finished:
                self._delivery.request_ticks()
        except Exception:
            self._count("export_errors")
            _log.exception("Infinium exporter: export failed; the batch was dropped")
        return SpanExportResult.SUCCESS

    def force_flush(self, timeout_millis: int = 30_000) -> bool:
        """Wait until every finished run has been delivered; True when all went out.

        Runs still in progress stay buffered: a flush from one thread (a web
        request ending, say) must not cut another thread's live run in two. They
        go out when their root ends, after ``run_ttl``, or at shutdown.
        """
        if self._delivery is None:
            return True
        self._ship_finished()
        return self._delivery.flush(timeout_millis / 1000)

    def shutdown(self, timeout_millis: float = 30_000) -> None:
        """Drain buffered runs, deliver within the time given, stop the threads."""
        self.shutdown_report(timeout_millis / 1000)

    def shutdown_report(self, timeout: float = 30.0) -> bool:
        """``shutdown`` that says whether every run was delivered."""
        if self._closed:
            return True
        deadline = time.monotonic() + max(0.0, timeout)
        if self._delivery is None:
            self._closed = True
            return True
        self._drain("exporter shut down before the root span ended")
        self._closed = True
        self._ship_finished()
        delivered = self._delivery.shutdown(max(0.0, deadline - time.monotonic()))
        if self._interpretation is not None:
            self._interpretation.shutdown(max(0.0, min(1.0, deadline - time.monotonic())))
        return delivered

    # -- counters ----------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters of runs and spans, for diagnosis and self-telemetry."""
        with self._counter_lock:
            result = dict(self._counters)
        with self._lock:
            assembly = vars(self._assembler.stats).copy()
            result["spans_buffered"] = self._assembler.buffered_spans
        result.update(assembly)
        if self._delivery is not None:
            result.update({f"delivery_{k}": v for k, v in vars(self._delivery.stats).items()})
            result["delivery_pending"] = self._delivery.pending + len(self._finished)
        return result

    # -- internals ---------------------------------------------------------

    def _make_interpretation(self, option: InterpretationOption) -> InterpretationProcessor | None:
        if isinstance(option, InterpretationProcessor):
            return option
        if option is False:
            return None
        if option is None:
            sinks: frozenset[str] = self._settings.interpretation
        elif option is True:
            sinks = self._settings.interpretation or frozenset({"log"})
        else:
            sinks = Settings.load({}, interpretation=option).interpretation
        if not sinks:
            return None
        return InterpretationProcessor(
            client=self._client.clone(), settings=self._settings, sinks=sinks
        )

    def _tick(self) -> bool:
        """Delivery thread, periodically while there is work: convert and queue finished
        runs, send trees whose root never ended; True while anything is left."""
        self._ship_finished()
        if self._closed:
            return False
        with self._lock:
            runs = self._assembler.expire(time.monotonic())
            buffered = self._assembler.buffered_spans
        self._ship_all(runs)
        return buffered > 0 or bool(self._finished)

    def _hand_over(self, runs: list[Run]) -> list[Run]:
        """Queue finished runs for the delivery thread; returns those over the bound."""
        finished = self._finished
        finished.extend(runs)
        overflow = []
        while len(finished) > self._settings.max_queued_payloads:
            try:
                overflow.append(finished.popleft())
            except IndexError:
                break
        return overflow

    def _ship_finished(self) -> None:
        """Convert and queue every run handed over so far (any thread)."""
        with self._ship_lock:
            while True:
                try:
                    run = self._finished.popleft()
                except IndexError:
                    return
                self._ship(run)

    def _ship_all(self, runs: list[Run]) -> None:
        with self._ship_lock:
            for run in runs:
                self._ship(run)

    def _drain(self, reason: str) -> None:
        with self._lock:
            runs = self._assembler.drain(reason)
        self._ship_finished()
        self._ship_all(runs)

    def _ship(self, run: Run) -> None:
        """Convert, let the hook see it, encode and queue. Never raises."""
        assert self._delivery is not None
        try:
            payload = convert_run(
                run, capture_content=self._settings.capture_content, sdk_version=__version__
            )
        except Exception:
            self._count("runs_failed_conversion")
            _log.exception("Infinium exporter: could not convert a run; it was dropped")
            return
        if self._hook is not None:
            try:
                hooked = self._hook(payload)
            except Exception:
                self._count("runs_dropped_by_hook")
                self._warn.log(
                    logging.ERROR,
                    "hook",
                    "Infinium exporter: payload_hook raised; the run was dropped, not sent",
                )
                return
            if hooked is None:
                self._count("runs_dropped_by_hook")
                return
            payload = hooked
        try:
            encoded = encode_payload(payload)
        except Exception:
            self._count("runs_failed_conversion")
            _log.exception("Infinium exporter: could not encode a run; it was dropped")
            return
        context = run.root.context
        resource = run.root.resource
        service = resource.attributes.get("service.name") if resource is not None else None
        meta = RunMeta(
            otel_trace_id=context.trace_id if context else 0,
            otel_span_id=context.span_id if context else 0,
            run_name=str(payload.get("name", run.root.name)),
            agent_name=str(payload.get("name", run.root.name)),
            service_name=str(service) if service is not None else None,
        )
        self._count("runs_exported")
        self._delivery.submit(Delivery(body=encoded.body, meta=meta))

    def _on_delivered(self, delivery: Delivery, response: ApiResponse) -> None:
        if self._interpretation is None:
            return
        trace_id = response.trace_id
        if not trace_id:
            return
        meta = delivery.meta
        self._interpretation.submit(
            InterpretationRequest(
                infinium_trace_id=trace_id,
                otel_trace_id=meta.otel_trace_id,
                otel_span_id=meta.otel_span_id,
                agent_name=meta.agent_name,
                service_name=meta.service_name,
            )
        )

    def _count(self, key: str) -> None:
        with self._counter_lock:
            self._counters[key] += 1

    def _after_fork_in_child(self) -> None:
        self._lock = threading.Lock()
        self._counter_lock = threading.Lock()
        self._warn = RateLimitedLogger(_log)  # its lock may have been held at the fork
        self._ship_lock = threading.Lock()
        self._finished.clear()
        self._assembler.clear()
        self._tracker.forget_all()


def _explicit(settings: Settings) -> dict[str, Any]:
    """A Settings object as keyword overrides (to layer more overrides on top)."""
    return {f.name: getattr(settings, f.name) for f in dataclasses.fields(settings)}


def _after_fork(ref: weakref.ReferenceType[InfiniumSpanExporter]) -> None:
    exporter = ref()
    if exporter is not None:
        exporter._after_fork_in_child()
