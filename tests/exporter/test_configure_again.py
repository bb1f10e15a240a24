"""``configure()`` called again for the same provider keeps its word.

A later call with different settings does not silently lose them: the first
settings stay (one exporter, no duplicate sends) and one warning names what was
not applied. ``handle.shutdown()`` followed by ``configure()`` applies new ones.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor
from opentelemetry.trace import Tracer

from infinium_otel import InfiniumSpanExporter, configure
from infinium_otel.sandbox import Sandbox

from .support import agent_attributes, chat_attributes, checked_payloads, trace_posts

PRIVATE = "the traveller's passport number is X1234567"


def settings_for(sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
    return {
        "agent_id": sandbox.agent_id,
        "agent_secret": sandbox.agent_secret,
        "base_url": sandbox.url,
        "timeout": 2.0,
        "max_retries": 0,
        "interpretation": False,
        "instrument": False,
        **extra,
    }


@pytest.fixture
def provider() -> Iterator[TracerProvider]:
    made = TracerProvider()
    yield made
    made.shutdown()


def run_with_content(tracer: Tracer, name: str) -> None:
    attributes = {**agent_attributes(name), "infinium.input_summary": PRIVATE}
    with tracer.start_as_current_span(f"invoke_agent {name}", attributes=attributes):
        with tracer.start_as_current_span("chat gpt-test", attributes=chat_attributes()):
            pass


def warnings_from(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        record.getMessage()
        for record in caplog.records
        if record.name.startswith("infinium_otel") and record.levelno >= logging.WARNING
    ]


def test_other_settings_on_a_second_call_are_named_in_one_warning_and_not_applied(
    sandbox: Sandbox, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    first = configure(tracer_provider=provider, **settings_for(sandbox))
    caplog.set_level(logging.INFO, logger="infinium_otel")
    second = configure(
        tracer_provider=provider, **settings_for(sandbox, capture_content=False, timeout=3.0)
    )
    assert second is first
    [warning] = warnings_from(caplog)
    assert "timeout, capture_content" in warning
    assert "NOT applied" in warning and "first settings stay" in warning
    assert sandbox.agent_secret not in warning
    # The warning tells the truth: the first call's settings are still the ones in use.
    run_with_content(provider.get_tracer("t"), "second-call")
    assert first.flush(10.0)
    [payload] = checked_payloads(sandbox)
    assert payload["input_summary"] == PRIVATE
    assert trace_posts(sandbox) == 1
    assert first.shutdown(5.0)


def test_the_same_settings_again_are_silent(
    sandbox: Sandbox, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    first = configure(tracer_provider=provider, **settings_for(sandbox))
    caplog.set_level(logging.DEBUG, logger="infinium_otel")
    assert configure(tracer_provider=provider, **settings_for(sandbox)) is first
    assert warnings_from(caplog) == []
    assert first.shutdown(5.0)


def test_a_different_interpretation_or_hook_is_named_too(
    sandbox: Sandbox, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    first = configure(tracer_provider=provider, **settings_for(sandbox))
    caplog.set_level(logging.INFO, logger="infinium_otel")
    configure(
        tracer_provider=provider,
        **settings_for(sandbox, interpretation=["log"], payload_hook=lambda p: p),
    )
    [warning] = warnings_from(caplog)
    assert "interpretation, payload_hook" in warning
    assert first.interpretation is None
    assert first.shutdown(5.0)


def test_shutdown_then_configure_applies_the_new_settings(
    sandbox: Sandbox, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    first = configure(tracer_provider=provider, **settings_for(sandbox))
    assert first.shutdown(5.0)
    caplog.set_level(logging.INFO, logger="infinium_otel")
    second = configure(tracer_provider=provider, **settings_for(sandbox, capture_content=False))
    assert second is not first
    assert warnings_from(caplog) == []
    run_with_content(provider.get_tracer("t"), "reconfigured")
    assert second.flush(10.0)
    [payload] = checked_payloads(sandbox)
    assert payload["name"] == "reconfigured"
    assert "input_summary" not in payload
    assert PRIVATE not in str(payload)
    assert second.shutdown(5.0)


def test_configure_beside_a_zero_code_exporter_names_what_it_keeps(
    sandbox: Sandbox, provider: TracerProvider, caplog: pytest.LogCaptureFixture
) -> None:
    credentials = settings_for(sandbox)
    for key in ("interpretation", "instrument"):
        credentials.pop(key)
    installed = InfiniumSpanExporter(interpretation=False, **credentials)
    provider.add_span_processor(BatchSpanProcessor(installed, schedule_delay_millis=100))
    caplog.set_level(logging.INFO, logger="infinium_otel")
    handle = configure(tracer_provider=provider, **settings_for(sandbox, capture_content=False))
    assert handle.exporter is installed
    [warning] = warnings_from(caplog)
    assert "zero-code" in warning and "capture_content" in warning
    assert handle.shutdown(5.0)


def test_a_disabled_exporter_on_the_provider_is_not_adopted(
    sandbox: Sandbox, provider: TracerProvider
) -> None:
    """Zero-code setup with a bad value leaves a disabled exporter; configure() must still send."""
    idle = InfiniumSpanExporter(disabled=True)
    provider.add_span_processor(BatchSpanProcessor(idle, schedule_delay_millis=100))
    handle = configure(tracer_provider=provider, **settings_for(sandbox))
    assert handle.exporter is not idle
    run_with_content(provider.get_tracer("t"), "sent")
    assert handle.flush(10.0)
    assert [p["name"] for p in checked_payloads(sandbox)] == ["sent"]
    assert handle.shutdown(5.0)


def test_spool_bounds_given_to_configure_reach_the_spool(
    sandbox: Sandbox, provider: TracerProvider, tmp_path: Any
) -> None:
    """``spool_max_bytes`` is a setting like any other, not only a variable the spool reads."""
    from infinium_otel.delivery.spool import Spool

    spool_dir = tmp_path / "spool"
    handle = configure(
        tracer_provider=provider,
        **settings_for(sandbox, spool_dir=str(spool_dir), spool_max_bytes="64"),
    )
    run_with_content(provider.get_tracer("t"), "too-big-to-spool")
    assert handle.flush(10.0)
    # Every payload is larger than 64 bytes: refused by the spool, sent from memory.
    assert handle.stats()["delivery_spool_dropped_full"] == 1
    assert [p["name"] for p in checked_payloads(sandbox)] == ["too-big-to-spool"]
    assert Spool(spool_dir, create=False).entries() == []
    assert handle.shutdown(5.0)
