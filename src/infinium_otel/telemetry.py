"""Self-telemetry: the exporter's counters through the OpenTelemetry metrics API.

Observable instruments on the meter ``infinium_otel`` read ``stats()`` only
when a MeterProvider collects, so this costs nothing without one. With the
API's default no-op provider nothing is recorded at all.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterable

from opentelemetry import metrics
from opentelemetry.metrics import CallbackOptions, Observation

from ._version import __version__

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
        ("runs_dropped_by_hook", {"reason": "payload_hook"}, ""),
        ("runs_failed_conversion", {"reason": "conversion"}, ""),
    ],
    "infinium_otel.spans.late": [("late_spans", {}, "spans that ended after their run left")],
    "infinium_otel.spans.dropped": [
        ("spans_dropped_cap", {"reason": "cap"}, "spans over a buffer cap"),
        ("spans_dropped_no_genai", {"reason": "no_genai"}, ""),
    ],
}
GAUGES: dict[str, tuple[str, str]] = {
    "infinium_otel.spans.buffered": ("spans_buffered", "spans waiting for their run root"),
    "infinium_otel.delivery.pending": ("delivery_pending", "payloads waiting to be sent"),
}


def register_metrics(stats: Stats, meter_provider: metrics.MeterProvider | None = None) -> None:
    """Publish ``stats()`` as observable counters and gauges on the ``infinium_otel`` meter.

    Only a weak reference to the stats' owner is kept, so the exporter can be
    collected; its instruments then report nothing.
    """
    meter = metrics.get_meter("infinium_otel", __version__, meter_provider=meter_provider)
    owner = getattr(stats, "__self__", None)
    ref: Callable[[], Stats | None]
    if owner is not None:
        owner_ref = weakref.ref(owner)
        name = stats.__name__

        def ref() -> Stats | None:
            target = owner_ref()
            return getattr(target, name) if target is not None else None

    else:

        def ref() -> Stats | None:
            return stats

    def observe(
        keys: list[tuple[str, dict[str, str], str]],
    ) -> Callable[..., Iterable[Observation]]:
        def callback(options: CallbackOptions) -> Iterable[Observation]:
            current = ref()
            if current is None:
                return []
            values = current()
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
