"""Self-telemetry: the exporter's counters through the OpenTelemetry metrics API.

Observable instruments on the meter ``infinium_otel`` read ``stats()`` only
when a MeterProvider collects, so this costs nothing without one. With the
API's default no-op provider nothing is recorded at all.
"""

from __future__ import annotations

import threading
import weakref
from collections.abc import Callable, Iterable
from typing import Any

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from infinium_otel._version import __version__

__all__ = ["COUNTERS", "GAUGES", "register_metrics"]

Stats = Callable[[], dict[str, int]]

# instrument name -> (stats key, attributes, description)
COUNTERS: dict[str, list[tuple[str, dict[str, str], str]]] = {
    "infinium_otel.runs.exported": [("runs_exported", {}, "runs converted and queued")],
    "infinium_otel.runs.delivered": [("delivery_delivered", {}, "runs accepted by Infinium")],
    "infinium_otel.runs.partial": [("runs_partial", {}, "runs sent before their root ended")],
    "infinium_otel.runs.spooled": [("delivery_spooled", {}, "payloads written to the spool")],
    "infinium_otel.runs.retried": [("delivery_retried", {}, "payloads sent again later")],
    "infinium_otel.runs.dropped": [
        ("delivery_failed", {"reason": "delivery_failed"}, "runs not delivered"),
        ("delivery_dropped_queue_full", {"reason": "queue_full"}, ""),
        ("delivery_abandoned_at_shutdown", {"reason": "shutdown"}, ""),
        ("delivery_dropped_after_shutdown", {"reason": "after_shutdown"}, ""),
        ("runs_dropped_by_hook", {"reason": "payload_hook"}, ""),
        ("runs_hook_failed", {"reason": "payload_hook_failed"}, ""),
        ("runs_failed_conversion", {"reason": "conversion"}, ""),
        ("runs_unrouted", {"reason": "unrouted"}, ""),
        ("delivery_spool_dropped_full", {"reason": "spool_full"}, ""),
        ("delivery_spool_rejected", {"reason": "rejected"}, ""),
    ],
    "infinium_otel.runs.replayed": [
        ("delivery_replayed", {}, "spooled runs from earlier processes sent again")
    ],
    "infinium_otel.spans.late": [("late_spans", {}, "spans that ended after their run left")],
    "infinium_otel.spans.dropped": [
        ("spans_dropped_cap", {"reason": "cap"}, "spans over a buffer cap"),
        ("spans_dropped_no_genai", {"reason": "no_genai"}, ""),
        ("spans_duplicate", {"reason": "duplicate"}, ""),
    ],
}
GAUGES: dict[str, tuple[str, str]] = {
    "infinium_otel.spans.buffered": ("spans_buffered", "spans waiting for their run root"),
    "infinium_otel.delivery.pending": ("delivery_pending", "payloads waiting to be sent"),
}


class _Sources:
    """The live stats owners publishing through one meter; summed at collection."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._owners: weakref.WeakSet[Any] = weakref.WeakSet()
        self._plain: list[Stats] = []

    def add(self, stats: Stats) -> None:
        owner = getattr(stats, "__self__", None)
        with self._lock:
            if owner is not None:
                self._owners.add(owner)
            else:
                self._plain.append(stats)

    def totals(self) -> dict[str, int] | None:
        with self._lock:
            sources: list[Stats] = [owner.stats for owner in list(self._owners)]
            sources.extend(self._plain)
        if not sources:
            return None
        totals: dict[str, int] = {}
        for stats in sources:
            for key, value in stats().items():
                totals[key] = totals.get(key, 0) + value
        return totals


_registry_lock = threading.Lock()
_registry: dict[int, _Sources] = {}


def register_metrics(stats: Stats, meter_provider: metrics.MeterProvider | None = None) -> None:
    """Publish ``stats()`` as observable counters and gauges on the ``infinium_otel`` meter.

    Instruments are created once per meter provider; every registered exporter
    adds to their values. Only a weak reference to a bound method's owner is
    kept, so an exporter can be collected and then stops counting.
    """
    key = id(meter_provider) if meter_provider is not None else 0
    with _registry_lock:
        sources = _registry.get(key)
        created = sources is None
        if sources is None:
            sources = _registry[key] = _Sources()
    sources.add(stats)
    if created:
        _create_instruments(sources, meter_provider)


def _create_instruments(sources: _Sources, meter_provider: metrics.MeterProvider | None) -> None:
    meter = metrics.get_meter("infinium_otel", __version__, meter_provider=meter_provider)

    def observe(
        keys: list[tuple[str, dict[str, str], str]],
    ) -> Callable[..., Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            values = sources.totals()
            if values is None:
                return []
            return [Observation(values.get(key, 0), attrs) for key, attrs, _ in keys]

        return callback

    for instrument, keys in COUNTERS.items():
        meter.create_observable_counter(
            instrument, callbacks=[observe(keys)], unit="1", description=keys[0][2]
        )
    for instrument, (key, description) in GAUGES.items():
        meter.create_observable_gauge(
            instrument,
            callbacks=[observe([(key, {}, description)])],
            unit="1",
            description=description,
        )
