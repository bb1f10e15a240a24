"""Self-telemetry: counters reach a real MeterProvider."""

from __future__ import annotations

import gc

from opentelemetry.sdk.metrics import MeterProvider
from opentelemetry.sdk.metrics.export import InMemoryMetricReader

from infinium_otel.export.telemetry import register_metrics


class Owner:
    def __init__(self) -> None:
        self.values = {"runs_exported": 3, "delivery_delivered": 2, "spans_buffered": 7}

    def stats(self) -> dict[str, int]:
        return dict(self.values)


def collect(reader: InMemoryMetricReader) -> dict[str, list[tuple[int, dict[str, object]]]]:
    data = reader.get_metrics_data()
    found: dict[str, list[tuple[int, dict[str, object]]]] = {}
    if data is None:  # nothing observed at all
        return found
    for resource_metrics in data.resource_metrics:
        for scope_metrics in resource_metrics.scope_metrics:
            assert scope_metrics.scope.name == "infinium_otel"
            for metric in scope_metrics.metrics:
                found[metric.name] = [
                    (int(point.value), dict(point.attributes or {}))
                    for point in metric.data.data_points
                ]
    return found


def test_counters_and_gauges_follow_stats() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    owner = Owner()
    register_metrics(owner.stats, meter_provider=provider)
    first = collect(reader)
    assert first["infinium_otel.runs.exported"] == [(3, {})]
    assert first["infinium_otel.spans.buffered"] == [(7, {})]
    dropped = dict((attrs["reason"], value) for value, attrs in first["infinium_otel.runs.dropped"])
    assert dropped["queue_full"] == 0
    owner.values["runs_exported"] = 5
    assert collect(reader)["infinium_otel.runs.exported"] == [(5, {})]
    provider.shutdown()


def test_a_collected_owner_reports_nothing() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    owner = Owner()
    register_metrics(owner.stats, meter_provider=provider)
    del owner
    gc.collect()
    assert "infinium_otel.runs.exported" not in collect(reader)
    provider.shutdown()


def test_several_exporters_add_up_on_one_set_of_instruments() -> None:
    reader = InMemoryMetricReader()
    provider = MeterProvider(metric_readers=[reader])
    first, second = Owner(), Owner()
    second.values["runs_exported"] = 10
    register_metrics(first.stats, meter_provider=provider)
    register_metrics(second.stats, meter_provider=provider)
    assert collect(reader)["infinium_otel.runs.exported"] == [(13, {})]
    provider.shutdown()


def test_every_published_counter_is_a_real_stats_key_and_every_drop_is_published() -> None:
    from infinium_otel import InfiniumSpanExporter
    from infinium_otel.export.telemetry import COUNTERS, GAUGES

    exporter = InfiniumSpanExporter(
        agent_id="00000000-0000-4000-8000-000000000001",
        agent_secret="a-secret-for-tests",
        base_url="http://127.0.0.1:9/api/v1",
    )
    try:
        keys = set(exporter.stats())
    finally:
        exporter.shutdown(100)
    published = {key for rows in COUNTERS.values() for key, _, _ in rows}
    published |= {key for key, _ in GAUGES.values()}
    assert published <= keys, published - keys
    losses = {k for k in keys if "dropped" in k or "failed" in k or k.endswith("_duplicate")}
    losses -= {
        "delivery_failed_auth",
        "delivery_spool_write_failed",
        "delivery_dropped_after_shutdown",
    }
    assert losses <= published, losses - published
