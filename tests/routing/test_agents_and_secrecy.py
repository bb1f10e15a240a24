"""The sandbox holds several agents' credentials; route secrets never show anywhere."""

from __future__ import annotations

import json
import logging
import pickle
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider

from exporter.support import agent_attributes
from infinium_otel import configure
from infinium_otel.client.agents import AgentClients
from infinium_otel.sandbox import SANDBOX_AGENT_ID, Sandbox
from infinium_otel.settings import Settings
from routing.support import BILLING, BILLING_SECRET, PLANNER, PLANNER_SECRET, write_routes
from secret_scan import find_leaks, known_secrets, register_secret
from spool.support import payload

pytestmark = pytest.mark.timeout(60)


def post(sandbox: Sandbox, agent: str, secret: str, body: bytes) -> tuple[int, dict[str, object]]:
    request = urllib.request.Request(
        f"{sandbox.url}/agents/{agent}/trace",
        data=body,
        headers={"x-agent-id": agent, "x-agent-key": secret, "content-type": "application/json"},
    )
    return call(request)


def get_result(sandbox: Sandbox, agent: str, secret: str, trace_id: str) -> int:
    request = urllib.request.Request(
        f"{sandbox.url}/agents/{agent}/interpreted-result/{trace_id}",
        headers={"x-agent-id": agent, "x-agent-key": secret},
    )
    return call(request)[0]


def call(request: urllib.request.Request) -> tuple[int, dict[str, object]]:
    try:
        with urllib.request.urlopen(request, timeout=5) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_the_sandbox_keeps_each_agents_traces_apart(two_agents: Sandbox) -> None:
    sandbox = two_agents
    status, answer = post(sandbox, BILLING, BILLING_SECRET, payload("b"))
    assert status == 201
    trace_id = str(answer["traceId"])
    assert sandbox.trace(trace_id).agent_id == BILLING  # type: ignore[union-attr]
    assert post(sandbox, BILLING, PLANNER_SECRET, payload("x"))[0] == 401  # another's secret
    assert (
        post(sandbox, "33333333-3333-4333-8333-333333333333", BILLING_SECRET, payload("x"))[0]
        == 401
    )  # an unknown agent
    assert [t.payload["name"] for t in sandbox.traces()] == ["b"]
    sandbox.make_ready(trace_id)
    assert get_result(sandbox, BILLING, BILLING_SECRET, trace_id) == 200
    assert get_result(sandbox, PLANNER, PLANNER_SECRET, trace_id) == 404  # not planner's
    assert get_result(sandbox, PLANNER, BILLING_SECRET, trace_id) == 401
    with pytest.raises(ValueError):
        sandbox.add_agent("not-a-uuid", "long-enough-secret")
    with pytest.raises(ValueError):
        sandbox.add_agent(BILLING, "short")


def test_route_secrets_never_show_in_reprs_stats_logs_or_errors(
    two_agents: Sandbox,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    sandbox = two_agents
    routes = str(write_routes(tmp_path))
    monkeypatch.setenv("BILLING_AGENT_SECRET", BILLING_SECRET)
    provider = TracerProvider(resource=Resource.create({"service.name": "shop"}))
    texts: list[tuple[str, str]] = []
    with caplog.at_level(logging.DEBUG, logger="infinium_otel"):
        handle = configure(
            tracer_provider=provider,
            instrument=False,
            interpretation=["log"],
            routes=routes,
            base_url=sandbox.url,
            max_retries=0,
            poll_interval=1.0,
        )
        try:
            tracer = provider.get_tracer("secrecy")
            for name in ("billing", "planner", "nobody"):
                with tracer.start_as_current_span(name, attributes=agent_attributes(name)):
                    pass
            handle.flush(20)
            handle.wait_for_interpretations(20)
            assert handle.exporter is not None
            clients = AgentClients(handle.settings)
            routed = clients.get(BILLING)
            assert routed is not None and routed.agent_id == BILLING
            assert clients.get(SANDBOX_AGENT_ID) is None  # no route, no default: no client
            texts += [
                ("handle", repr(handle)),
                ("exporter", repr(handle.exporter)),
                ("settings", repr(handle.settings)),
                ("table", repr(handle.settings.routes)),
                ("routes", str(handle.settings.routes.routes)),  # type: ignore[union-attr]
                ("clients", repr(clients)),
                ("client", repr(routed)),
                ("stats", repr(handle.stats())),
            ]
            with pytest.raises(TypeError):
                pickle.dumps(handle.settings.routes)
            clients.close()
        finally:
            handle.shutdown(10)
    # A wrong secret on the wire and a bad table: their errors name no secret either.
    monkeypatch.setenv("BILLING_AGENT_SECRET", "billing-wrong-secret-9")
    with caplog.at_level(logging.DEBUG, logger="infinium_otel"):
        wrong = configure(
            tracer_provider=TracerProvider(),
            instrument=False,
            interpretation=False,
            routes=routes,
            base_url=sandbox.url,
            max_retries=0,
        )
        try:
            wrong_tracer = wrong.tracer_provider.get_tracer("wrong")  # type: ignore[union-attr]
            with wrong_tracer.start_as_current_span(
                "billing", attributes=agent_attributes("billing")
            ):
                pass
            assert not wrong.flush(20)
        finally:
            wrong.shutdown(10)
    texts += [(f"log {r.name}", r.getMessage() + (r.exc_text or "")) for r in caplog.records]
    try:
        Settings.load(
            routes={
                "routes": [{"match": {"a": "b"}, "agent_id": BILLING, "secret": BILLING_SECRET}]
            }
        )
    except Exception as error:
        texts.append(("error", f"{error!r} {error}"))
    assert any("credentials refused (401)" in text for _, text in texts)
    assert any("writes a secret in the table" in text for _, text in texts)
    secrets = known_secrets() | {"billing-wrong-secret-9"}
    assert BILLING_SECRET in secrets and PLANNER_SECRET in secrets
    assert find_leaks(texts, secrets) == []
    assert [t.agent_id for t in sandbox.traces()].count(PLANNER) == 1


def test_a_refused_poll_stops_only_that_agents_polling(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infinium_otel.interpretation import InterpretationProcessor, InterpretationRequest
    from infinium_otel.interpretation.outcome import InterpretationOutcome

    sandbox = two_agents
    billing_trace = str(post(sandbox, BILLING, BILLING_SECRET, payload("b"))[1]["traceId"])
    planner_trace = str(post(sandbox, PLANNER, PLANNER_SECRET, payload("p"))[1]["traceId"])
    routes = str(write_routes(tmp_path))
    monkeypatch.setenv("BILLING_AGENT_SECRET", "billing-wrong-secret-9")
    register_secret("billing-wrong-secret-9")
    outcomes: list[InterpretationOutcome] = []
    settings = Settings.load({}, routes=routes, base_url=sandbox.url, max_retries=0)
    processor = InterpretationProcessor(
        settings=settings, sinks=[], on_result=outcomes.append, poll_interval=1.0
    )
    try:
        for trace_id, agent in ((billing_trace, BILLING), (planner_trace, PLANNER)):
            processor.submit(
                InterpretationRequest(
                    infinium_trace_id=trace_id, otel_trace_id=1, otel_span_id=2, agent_id=agent
                )
            )
        assert processor.flush(20)
    finally:
        processor.shutdown(2)
    by_trace = {outcome.infinium_trace_id: outcome for outcome in outcomes}
    assert by_trace[planner_trace].status == "ready"
    assert by_trace[billing_trace].status == "failed"
    assert BILLING in by_trace[billing_trace].message
    polls = [r for r in sandbox.requests if r.endpoint == "interpretation"]
    assert {r.headers["x-agent-id"] for r in polls if r.status == 401} == {BILLING}
    assert all(r.headers["x-agent-id"] == PLANNER for r in polls if r.status == 200)
