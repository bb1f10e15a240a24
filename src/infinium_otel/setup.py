"""``configure()``: one call from nothing to agent runs arriving in Infinium.

It joins the current SDK TracerProvider (or creates and installs one), puts the
exporter behind a batch processor tuned for agent runs (a run reaches the wire
within about a second of its root ending, not after the default 5 s batch
delay), enables the interpretation processor when asked, and instruments the
LLM clients it finds. Calling it again for the same provider returns the same
handle rather than adding a second exporter; when that later call asks for
different settings they are not applied, and one warning names them (the first
call's settings stay until ``handle.shutdown()``).
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
import time
import weakref
from collections.abc import Mapping, Sequence
from typing import Any

from opentelemetry import trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import SpanProcessor, TracerProvider

from infinium_otel.export.exporter import InfiniumSpanExporter, InterpretationOption, PayloadHook
from infinium_otel.export.nesting import attach_tracker
from infinium_otel.export.tracked_batch import TrackedBatchSpanProcessor
from infinium_otel.interpretation import InterpretationProcessor
from infinium_otel.settings import Settings

__all__ = ["InfiniumHandle", "configure"]

_log = logging.getLogger("infinium_otel")

# Agent runs are few and precious: export soon after the root ends.
SCHEDULE_DELAY_MILLIS = 500
MAX_QUEUE_SIZE = 8_192
MAX_EXPORT_BATCH_SIZE = 512

# A routing table: a path to its JSON file, ``{"routes": [...]}`` or the list (see routing.py).
RoutesOption = str | os.PathLike[str] | Mapping[str, Any] | Sequence[Mapping[str, Any]] | None

_lock = threading.Lock()
_handles: dict[int, InfiniumHandle] = {}


@dataclasses.dataclass(frozen=True)
class _Request:
    """What one ``configure()`` call asked for, to compare a later call against."""

    settings: Settings
    interpretation: object  # the sinks, or the caller's own processor
    payload_hook: PayloadHook | None
    instrument: bool

    def differences(self, later: _Request) -> list[str]:
        """Names of what ``later`` asks for differently (settings first, in table order)."""
        names = self.settings.differences(later.settings)
        if self.interpretation != later.interpretation and "interpretation" not in names:
            names.append("interpretation")
        if self.payload_hook is not later.payload_hook:
            names.append("payload_hook")
        if self.instrument != later.instrument:
            names.append("instrument")
        return names


# The request behind each live handle (weak: a handle shut down and dropped goes too).
_requests: weakref.WeakKeyDictionary[InfiniumHandle, _Request] = weakref.WeakKeyDictionary()
# Exporters configure() made itself: once no registered handle holds one, it was shut
# down, and a later configure() must not adopt it as if zero-code setup had made it.
_made_here: weakref.WeakSet[InfiniumSpanExporter] = weakref.WeakSet()


class InfiniumHandle:
    """What ``configure()`` set up; ``flush`` and ``shutdown`` report success."""

    def __init__(
        self,
        *,
        settings: Settings,
        tracer_provider: TracerProvider | None,
        exporter: InfiniumSpanExporter | None,
        processor: SpanProcessor | None,
        instrumented: list[str],
    ) -> None:
        self.settings = settings
        self.tracer_provider = tracer_provider
        self.exporter = exporter
        self.span_processor = processor
        self.instrumented = instrumented

    @property
    def enabled(self) -> bool:
        return self.exporter is not None

    @property
    def interpretation(self) -> InterpretationProcessor | None:
        return self.exporter.interpretation if self.exporter is not None else None

    def flush(self, timeout: float = 30.0) -> bool:
        """Export and deliver every finished run; True when all were delivered in time."""
        if self.exporter is None or self.span_processor is None:
            return True
        deadline = time.monotonic() + timeout
        pushed = self.span_processor.force_flush(int(timeout * 1000))
        remaining = max(0.0, deadline - time.monotonic())
        delivered = self.exporter.force_flush(int(remaining * 1000))
        return bool(pushed and delivered)

    def wait_for_interpretations(self, timeout: float = 60.0) -> bool:
        """Wait until every delivered run's interpretation has arrived (or given up)."""
        processor = self.interpretation
        return True if processor is None else processor.flush(timeout)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Flush, then stop the exporter and its threads; True when all was delivered."""
        if self.exporter is None or self.span_processor is None:
            return True
        deadline = time.monotonic() + timeout
        pushed = self.span_processor.force_flush(int(timeout * 1000))
        delivered = self.exporter.shutdown_report(max(0.0, deadline - time.monotonic()))
        self.span_processor.shutdown()
        with _lock:
            if self.tracer_provider is not None:
                _handles.pop(id(self.tracer_provider), None)
        return bool(pushed and delivered)

    def stats(self) -> dict[str, int]:
        return self.exporter.stats() if self.exporter is not None else {}

    def __repr__(self) -> str:
        return f"InfiniumHandle(enabled={self.enabled}, instrumented={self.instrumented!r})"


def configure(
    *,
    tracer_provider: TracerProvider | None = None,
    instrument: bool = True,
    interpretation: InterpretationOption = None,
    payload_hook: PayloadHook | None = None,
    resource: Resource | None = None,
    routes: RoutesOption = None,
    **settings: Any,
) -> InfiniumHandle:
    """Set up export of agent runs to Infinium; returns a handle for flush and shutdown.

    Keyword settings (``agent_id``, ``agent_secret``, ``base_url``, ...) override
    the ``INFINIUM_*`` environment. With ``INFINIUM_DISABLED=true`` nothing is
    installed and the handle is a no-op. ``routes`` (else ``INFINIUM_ROUTES``)
    sends each run with its own agent's credentials (docs/configuration.md).
    """
    resolved = Settings.load(routes=routes, **settings)
    if resolved.disabled:
        return InfiniumHandle(
            settings=resolved, tracer_provider=None, exporter=None, processor=None, instrumented=[]
        )
    request = _Request(
        settings=resolved,
        interpretation=_requested_interpretation(interpretation, resolved),
        payload_hook=payload_hook,
        instrument=instrument,
    )
    with _lock:
        provider = tracer_provider or _current_or_new_provider(resource)
        existing = _handles.get(id(provider))
        if existing is not None:
            first = _requests.get(existing)
            if first is not None:
                _warn_not_applied(first.differences(request), "an earlier configure() call")
            return existing
        # Content capture passes to the instrumentors only when chosen here or in
        # INFINIUM_CAPTURE_CONTENT, so OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT
        # still decides otherwise.
        capture = resolved.content_capture_choice
        found = _installed_exporter(provider)
        if found is not None:
            # Zero-code setup (OTEL_TRACES_EXPORTER=infinium) got here first: use its
            # exporter rather than adding a second one that would send every run twice.
            processor, installed = found
            _log.info("infinium_otel.configure: using the Infinium exporter already installed")
            attach_tracker(provider, installed)
            zero_code = _Request(
                settings=installed.settings,
                interpretation=_installed_interpretation(installed),
                payload_hook=None,
                instrument=instrument,
            )
            _warn_not_applied(zero_code.differences(request), "the zero-code setup")
            handle = InfiniumHandle(
                settings=installed.settings,
                tracer_provider=provider,
                exporter=installed,
                processor=processor,
                instrumented=_instrument(provider, capture) if instrument else [],
            )
            _handles[id(provider)] = handle
            _requests[handle] = zero_code
            return handle
        exporter = InfiniumSpanExporter(
            settings=resolved,
            interpretation=_interpretation_for(interpretation, resolved, provider),
            payload_hook=payload_hook,
        )
        # The batch processor carries the exporter's nesting tracker: one processor
        # call per span start and end on the application's thread, not two.
        processor = TrackedBatchSpanProcessor(
            exporter,
            max_queue_size=MAX_QUEUE_SIZE,
            schedule_delay_millis=SCHEDULE_DELAY_MILLIS,
            max_export_batch_size=MAX_EXPORT_BATCH_SIZE,
        )
        processor.add_to(provider)
        _made_here.add(exporter)
        instrumented = _instrument(provider, capture) if instrument else []
        handle = InfiniumHandle(
            settings=resolved,
            tracer_provider=provider,
            exporter=exporter,
            processor=processor,
            instrumented=instrumented,
        )
        _handles[id(provider)] = handle
        _requests[handle] = request
        return handle


def _warn_not_applied(names: list[str], source: str) -> None:
    """One warning naming the settings a later call asked for that will not be applied."""
    if not names:
        return
    _log.warning(
        "infinium_otel.configure: already configured for this tracer provider by %s; "
        "these differ and are NOT applied: %s. The first settings stay in effect; "
        "call handle.shutdown() before configure() to change them.",
        source,
        ", ".join(names),
    )


def _requested_interpretation(option: InterpretationOption, settings: Settings) -> object:
    """The sinks ``option`` means (or the caller's processor itself), for comparison."""
    if isinstance(option, InterpretationProcessor):
        return option
    return settings.interpretation_sinks(option)


def _installed_interpretation(exporter: InfiniumSpanExporter) -> object:
    """The sinks of an exporter built from the environment (as zero-code setup does)."""
    if exporter.interpretation is None:
        return frozenset()
    return exporter.settings.interpretation_sinks(None)


def _installed_exporter(
    provider: TracerProvider,
) -> tuple[SpanProcessor, InfiniumSpanExporter] | None:
    """The processor and Infinium exporter already on ``provider``, if any."""
    active = getattr(provider, "_active_span_processor", None)
    for processor in getattr(active, "_span_processors", ()):
        exporter = getattr(processor, "span_exporter", None)
        # A disabled one (INFINIUM_DISABLED, or a bad value under zero-code setup)
        # sends nothing, and one of ours was shut down with its handle: configure()
        # installs a new exporter rather than adopt either.
        if (
            isinstance(exporter, InfiniumSpanExporter)
            and not exporter.settings.disabled
            and exporter not in _made_here
        ):
            return processor, exporter
    return None


def _interpretation_for(
    option: InterpretationOption, settings: Settings, provider: TracerProvider
) -> InterpretationOption:
    """A processor whose result spans go to ``provider`` (which need not be global)."""
    if isinstance(option, InterpretationProcessor):
        return option
    sinks = settings.interpretation_sinks(option)
    if not sinks:
        return False
    return InterpretationProcessor(settings=settings, sinks=sinks, tracer_provider=provider)


def _current_or_new_provider(resource: Resource | None) -> TracerProvider:
    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=resource or Resource.create())
    trace.set_tracer_provider(provider)
    installed = trace.get_tracer_provider()
    if installed is not provider and isinstance(installed, TracerProvider):
        return installed  # someone else won the race to set it
    return provider


def _instrument(provider: TracerProvider, capture_content: bool | None) -> list[str]:
    try:
        from infinium_otel.instrumentation import instrument_all

        return instrument_all(tracer_provider=provider, capture_content=capture_content)
    except Exception:
        _log.warning("infinium_otel.configure: instrumentation failed", exc_info=True)
        return []
