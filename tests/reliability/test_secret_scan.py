"""The secret scan itself: it would catch a leak, and our public objects never show the secret."""

from __future__ import annotations

import logging

import pytest

from infinium_otel import configure
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import AuthenticationError, InfiniumError
from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.sandbox import SANDBOX_AGENT_SECRET, Sandbox
from infinium_otel.settings import Settings
from secret_scan import COLLECTOR, Leak, find_leaks, known_secrets, register_secret

from .support import settings_for

OTHER_SECRET = "a-secret-only-this-test-knows-42"


def test_scanner_finds_a_secret_and_names_where_not_what() -> None:
    leaks = find_leaks(
        [("log", f"header x-agent-key={OTHER_SECRET}"), ("clean", "nothing here")],
        [OTHER_SECRET],
    )
    assert leaks == [Leak("log", len(OTHER_SECRET))]
    assert OTHER_SECRET not in str(leaks[0])


def test_collector_catches_a_secret_logged_anywhere() -> None:
    register_secret(OTHER_SECRET)
    assert OTHER_SECRET in known_secrets()
    COLLECTOR.take()
    logging.getLogger("infinium_otel.delivery").debug("oops %s", OTHER_SECRET)
    try:
        raise RuntimeError(f"boom {SANDBOX_AGENT_SECRET}")
    except RuntimeError:
        logging.getLogger("some.library").error("failed", exc_info=True)
    leaks = COLLECTOR.take_leaks()  # taken here, so the plugin does not fail this test
    assert [leak.where for leak in leaks] == [
        "a log record from 'infinium_otel.delivery'",
        "a log record from 'some.library'",
    ]


def test_secret_from_the_environment_is_scanned(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("INFINIUM_AGENT_SECRET", "environment-secret-7a7a")
    assert "environment-secret-7a7a" in known_secrets()


def test_public_objects_never_show_the_secret(sandbox: Sandbox) -> None:
    settings = settings_for(sandbox)
    client = InfiniumClient(settings=settings)
    exporter = InfiniumSpanExporter(settings=settings, client=client, interpretation=False)
    from opentelemetry.sdk.trace import TracerProvider

    provider = TracerProvider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        agent_id=settings.agent_id,
        agent_secret=SANDBOX_AGENT_SECRET,
        base_url=sandbox.url,
        interpretation="off",
    )
    try:
        objects: list[object] = [
            settings,
            settings.agent_secret,
            Settings.load({}, agent_secret=SANDBOX_AGENT_SECRET),
            client,
            exporter,
            handle,
            handle.settings,
        ]
        texts = [(type(o).__name__, f"{o!r} {o!s} {o:}") for o in objects]
        assert find_leaks(texts, [SANDBOX_AGENT_SECRET]) == []
    finally:
        assert handle.shutdown(5)
        exporter.shutdown()
        provider.shutdown()


def test_errors_from_a_refused_secret_never_show_it(sandbox: Sandbox) -> None:
    register_secret(OTHER_SECRET)
    client = InfiniumClient(settings=settings_for(sandbox, agent_secret=OTHER_SECRET))
    with pytest.raises(AuthenticationError) as caught:
        client.send_task_data(
            {
                "name": "n",
                "description": "d",
                "current_datetime": "2026-01-01T00:00:00Z",
                "duration": 1.0,
            }
        )
    client.close()
    error: InfiniumError = caught.value
    text = f"{error!s} {error!r} {error.details!r} {error.args!r}"
    assert caught.value.status_code == 401
    assert find_leaks([("error", text)], [OTHER_SECRET, SANDBOX_AGENT_SECRET]) == []
