"""Runs of several agents from one process: each sent, spooled, replayed and polled
as its own agent over real HTTP to the sandbox; a run with no agent is dropped."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from exporter.support import agent_attributes, chat_attributes
from infinium_otel import configure
from infinium_otel.delivery.spool import Spool
from infinium_otel.delivery.spool_files import entry_agent
from infinium_otel.entry_point import EnvironmentInfiniumSpanExporter
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox
from routing.support import (
    BILLING,
    BILLING_SECRET,
    PLANNER,
    PLANNER_SECRET,
    routes_table,
    stored_by_agent,
    write_routes,
)

pytestmark = pytest.mark.timeout(60)


def run(provider: TracerProvider, name: str) -> int:
    """One agent run named ``name`` (a root and one chat); its OTel trace id."""
    tracer = provider.get_tracer("routing-test")
    with tracer.start_as_current_span(name, attributes=agent_attributes(name)) as root:
        with tracer.start_as_current_span("chat", attributes=chat_attributes()):
            pass
    return int(root.get_span_context().trace_id)


def new_provider(spans: InMemorySpanExporter | None = None) -> TracerProvider:
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    if spans is not None:
        provider.add_span_processor(SimpleSpanProcessor(spans))
    return provider


def settings_for(sandbox: Sandbox, **extra: Any) -> dict[str, Any]:
    return {
        "base_url": sandbox.url,
        "timeout": 5.0,
        "max_retries": 0,
        "poll_interval": 1.0,
        "poll_timeout": 20.0,
        **extra,
    }


def test_each_run_goes_to_its_agent_and_is_polled_as_that_agent(
    two_agents: Sandbox, tmp_path: Path
) -> None:
    sandbox = two_agents
    spans = InMemorySpanExporter()
    provider = new_provider(spans)
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=["span_event"],
        routes=str(write_routes(tmp_path)),
        **settings_for(sandbox),
    )
    try:
        planner_trace = run(provider, "planner")
        billing_trace = run(provider, "billing")
        assert handle.flush(20)
        assert handle.wait_for_interpretations(30)
        assert stored_by_agent(sandbox) == {BILLING: ["billing"], PLANNER: ["planner"]}
        # Every request went out as the agent of the trace it sent or asked about.
        agent_of = {trace.trace_id: trace.agent_id for trace in sandbox.traces()}
        polls = [r for r in sandbox.requests if r.endpoint == "interpretation"]
        assert {r.status for r in polls} <= {200, 404}
        asked = {r.path.rstrip("/").split("/")[-1] for r in polls if r.status == 200}
        assert asked == set(agent_of)
        for request in sandbox.requests:
            path_agent = request.path.split("/agents/")[1].split("/")[0]
            assert request.headers["x-agent-id"] == path_agent
            if request.endpoint == "interpretation":
                assert agent_of[request.path.rstrip("/").split("/")[-1]] == path_agent
        assert all(r.status in (200, 201, 404) for r in sandbox.requests)
        # The verdicts arrived as span events on each run's own trace.
        results = [s for s in spans.get_finished_spans() if s.name == "infinium.interpretation"]
        by_trace = {s.context.trace_id: s for s in results if s.context is not None}
        assert set(by_trace) == {planner_trace, billing_trace}
        for span in by_trace.values():
            (event,) = span.events
            assert event.attributes is not None
            assert event.attributes["infinium.interpretation.status"] == "ready"
        stats = handle.stats()
        assert stats["delivery_delivered"] == 2
        assert stats["runs_unrouted"] == 0
        assert handle.interpretation is not None
        assert handle.interpretation.stats()["ready"] == 2
    finally:
        handle.shutdown(10)


def test_an_unmatched_run_without_default_credentials_is_dropped_counted_and_logged_once(
    two_agents: Sandbox, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    sandbox = two_agents
    provider = new_provider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        routes=str(write_routes(tmp_path)),
        **settings_for(sandbox),
    )
    try:
        with caplog.at_level(logging.WARNING, logger="infinium_otel"):
            run(provider, "planner")
            run(provider, "stranger")
            run(provider, "another-stranger")
            assert not handle.flush(20)  # two runs were not delivered: flush says so
        assert stored_by_agent(sandbox) == {PLANNER: ["planner"]}
        stats = handle.stats()
        assert stats["runs_unrouted"] == 2
        assert stats["delivery_delivered"] == 1
        # Nothing went out under any other agent (the sandbox's own one included).
        assert {r.path.split("/agents/")[1].split("/")[0] for r in sandbox.requests} == {PLANNER}
        lines = [r.getMessage() for r in caplog.records if "matches no route" in r.getMessage()]
        assert len(lines) == 1
        assert "'stranger'" in lines[0] and "runs_unrouted" in lines[0]
    finally:
        handle.shutdown(10)


def test_an_unmatched_run_takes_the_default_credentials_when_given(
    two_agents: Sandbox, tmp_path: Path
) -> None:
    sandbox = two_agents
    provider = new_provider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        routes=routes_table(tmp_path / "missing-is-fine-for-billing-only", "gen_ai.agent.name")[
            "routes"
        ][:1],
        agent_id=SANDBOX_AGENT_ID,
        agent_secret=SANDBOX_AGENT_SECRET,
        **settings_for(sandbox),
    )
    try:
        run(provider, "billing")
        run(provider, "stranger")
        assert handle.flush(20)
        assert stored_by_agent(sandbox) == {BILLING: ["billing"], SANDBOX_AGENT_ID: ["stranger"]}
    finally:
        handle.shutdown(10)


def test_a_wrong_route_secret_is_refused_for_that_agent_only(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = two_agents
    monkeypatch.setenv("BILLING_AGENT_SECRET", "not-the-billing-secret")
    provider = new_provider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        routes=str(write_routes(tmp_path)),
        **settings_for(sandbox),
    )
    try:
        run(provider, "billing")
        run(provider, "planner")
        assert not handle.flush(20)
        assert stored_by_agent(sandbox) == {PLANNER: ["planner"]}
        assert handle.stats()["delivery_failed_auth"] == 1
        refused = [r for r in sandbox.requests if r.status == 401]
        assert [r.headers["x-agent-id"] for r in refused] == [BILLING]
    finally:
        handle.shutdown(10)


def test_spooled_runs_keep_their_agent_across_processes(
    two_agents: Sandbox, tmp_path: Path
) -> None:
    """Runs spooled while Infinium is down are replayed later as their own agents, by a
    later exporter's own replay; a payload whose agent has no route there stays on disk."""
    sandbox = two_agents
    spool_dir = tmp_path / "spool"
    routes = str(write_routes(tmp_path))
    sandbox.stop()
    provider = new_provider()
    first = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=False,
        routes=routes,
        spool_dir=str(spool_dir),
        **settings_for(sandbox),
    )
    run(provider, "planner")
    run(provider, "billing")
    assert not first.flush(10)
    first.shutdown(5)
    entries = Spool(spool_dir, create=False).entries()
    assert sorted(entry_agent(e.entry_id) or "" for e in entries) == sorted([BILLING, PLANNER])
    for entry in entries:  # never a secret on disk, names included
        body = (spool_dir / entry.name).read_bytes()
        assert BILLING_SECRET.encode() not in body and PLANNER_SECRET.encode() not in body
    sandbox.start()
    # A later process whose table routes planner only: billing's payload must stay.
    planner_only = routes_table(tmp_path / "planner-secret")["routes"][1:]
    later = new_provider()
    second = configure(
        tracer_provider=later,
        instrument=False,
        interpretation=False,
        routes=planner_only,
        spool_dir=str(spool_dir),
        **settings_for(sandbox, agent_id=SANDBOX_AGENT_ID, agent_secret=SANDBOX_AGENT_SECRET),
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and not sandbox.traces():
            time.sleep(0.1)
        time.sleep(1.5)  # room for a wrong send, which must not happen
        assert stored_by_agent(sandbox) == {PLANNER: ["planner"]}
        left = Spool(spool_dir, create=False).entries()
        assert [entry_agent(e.entry_id) for e in left] == [BILLING]
        assert second.stats()["delivery_spool_unroutable"] == 1
        assert second.stats()["delivery_replayed"] == 1
    finally:
        second.shutdown(5)


def test_the_environment_entry_point_reads_infinium_routes(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = two_agents
    monkeypatch.setenv("INFINIUM_ROUTES", str(write_routes(tmp_path)))
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)
    monkeypatch.setenv("INFINIUM_INTERPRETATION", "off")
    monkeypatch.setenv("INFINIUM_MAX_RETRIES", "0")
    exporter = EnvironmentInfiniumSpanExporter()
    provider = new_provider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        assert not exporter.settings.disabled
        run(provider, "billing")
        run(provider, "planner")
        assert exporter.force_flush(20_000)
        assert stored_by_agent(sandbox) == {BILLING: ["billing"], PLANNER: ["planner"]}
    finally:
        provider.shutdown()


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"routes": [{"match": {"service.name": "x"}, "agent_id": "' + BILLING + '", '
        '"secret": "' + BILLING_SECRET + '"}]}',
        '{"routes": [{"match": {"service.name": "x"}, "agent_id": "' + BILLING + '", '
        '"secret_env": "NO_SUCH_SECRET_VARIABLE"}]}',
    ],
)
def test_a_bad_table_turns_infinium_off_at_the_entry_point_without_raising(
    two_agents: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    content: str,
) -> None:
    path = tmp_path / "routes.json"
    path.write_text(content)
    monkeypatch.setenv("INFINIUM_ROUTES", str(path))
    monkeypatch.setenv("INFINIUM_BASE_URL", two_agents.url)
    with caplog.at_level(logging.ERROR, logger="infinium_otel"):
        exporter = EnvironmentInfiniumSpanExporter()
    assert exporter.settings.disabled
    (line,) = [r.getMessage() for r in caplog.records if "Infinium export is off" in r.getMessage()]
    assert "INFINIUM_ROUTES" in line
    assert BILLING_SECRET not in line


def test_configure_raises_one_clear_error_for_a_bad_table(two_agents: Sandbox) -> None:
    from infinium_otel.errors import ConfigurationError

    provider = new_provider()
    bad = {"routes": [{"match": {}, "agent_id": BILLING, "secret_env": "BILLING_AGENT_SECRET"}]}
    with pytest.raises(ConfigurationError, match=r"routes: routes\[0\]\.match must be"):
        configure(tracer_provider=provider, instrument=False, routes=bad, base_url=two_agents.url)


def test_results_looks_up_each_routed_run_with_its_agents_credentials(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io
    import json

    from infinium_otel.cli import results

    sandbox = two_agents
    history = tmp_path / "history.jsonl"
    routes = str(write_routes(tmp_path))
    provider = new_provider()
    handle = configure(
        tracer_provider=provider,
        instrument=False,
        interpretation=["log"],
        routes=routes,
        history=str(history),
        **settings_for(sandbox),
    )
    try:
        run(provider, "planner")
        run(provider, "billing")
        assert handle.flush(20)
        assert handle.wait_for_interpretations(30)
    finally:
        handle.shutdown(10)
    monkeypatch.setenv("INFINIUM_ROUTES", routes)
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)
    out = io.StringIO()
    assert results.main(["--json", "--history", str(history)], stdout=out) == 0
    found = {r["name"]: r for r in json.loads(out.getvalue())}
    assert set(found) == {"planner", "billing"}
    assert {found[name]["status"] for name in found} == {"ready"}
    agent_of = {trace.trace_id: trace.agent_id for trace in sandbox.traces()}
    for name, agent in (("planner", PLANNER), ("billing", BILLING)):
        assert agent_of[found[name]["trace_id"]] == agent
