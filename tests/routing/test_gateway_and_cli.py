"""The gateway with ``--routes`` sends each service's runs as its agent; ``spool replay``
sends each spooled payload as the agent it was routed to, and keeps what it cannot."""

from __future__ import annotations

import io
import os
import subprocess
import time
from pathlib import Path

import pytest
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

from exporter.support import agent_attributes, chat_attributes
from gateway.support import provider, reap, stop_on_sigterm
from gateway.test_gateway_cli import CLI, SRC, free_port
from infinium_otel.cli import spool as spool_cli
from infinium_otel.delivery.spool import Spool
from infinium_otel.sandbox import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox
from routing.support import (
    BILLING,
    BILLING_SECRET,
    PLANNER,
    PLANNER_SECRET,
    stored_by_agent,
    write_routes,
)
from spool.support import payload

pytestmark = pytest.mark.timeout(90)


def gateway_env(sandbox: Sandbox, **extra: str) -> dict[str, str]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("INFINIUM_AGENT_ID", "INFINIUM_AGENT_SECRET", "INFINIUM_ROUTES")
    }
    env.update(
        {
            "PYTHONPATH": SRC + os.pathsep + os.environ.get("PYTHONPATH", ""),
            "INFINIUM_BASE_URL": sandbox.url,
            "INFINIUM_INTERPRETATION": "off",
            "BILLING_AGENT_SECRET": BILLING_SECRET,
            **extra,
        }
    )
    return env


@pytest.mark.parametrize("source", ["--routes", "INFINIUM_ROUTES"])
def test_the_gateway_sends_each_services_runs_as_its_agent(
    two_agents: Sandbox, tmp_path: Path, source: str
) -> None:
    sandbox = two_agents
    routes = str(write_routes(tmp_path, key="service.name"))
    port = free_port()
    args = ["--http-port", str(port), "--grpc-port", "0", "--wait", "0.2"]
    extra = {}
    if source == "--routes":
        args += ["--routes", routes]
    else:
        extra["INFINIUM_ROUTES"] = routes
    process = subprocess.Popen(
        [*CLI, "gateway", *args],
        env=gateway_env(sandbox, **extra),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert f"127.0.0.1:{port}/v1/traces" in process.stdout.readline()
        endpoint = f"http://127.0.0.1:{port}/v1/traces"
        for service in ("billing", "planner", "unknown"):
            with provider(OTLPSpanExporter(endpoint=endpoint), service) as made:
                tracer = made.get_tracer("gateway-routes")
                with tracer.start_as_current_span(
                    f"{service}-run", attributes=agent_attributes(f"{service}-run")
                ):
                    with tracer.start_as_current_span("chat", attributes=chat_attributes()):
                        pass
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(sandbox.traces()) < 2:
            time.sleep(0.1)
        out, err = stop_on_sigterm(process, timeout=30)
    finally:
        reap(process)
    assert stored_by_agent(sandbox) == {BILLING: ["billing-run"], PLANNER: ["planner-run"]}
    # The unknown service's run had no route and no default: not delivered, and said so.
    assert process.returncode == 1, (out, err)
    assert "NOT delivered" in out
    assert "matches no route" in err
    for text in (out, err):
        assert BILLING_SECRET not in text and PLANNER_SECRET not in text


def test_the_gateway_refuses_a_bad_table_in_one_line(two_agents: Sandbox, tmp_path: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text('{"routes": [{"match": {"service.name": "x"}, "agent_id": "not-a-uuid"}]}')
    done = subprocess.run(
        [*CLI, "gateway", "--http-port", "0", "--grpc-port", "0", "--routes", str(path)],
        env=gateway_env(two_agents),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert "routes[0].agent_id must be a UUID" in done.stderr
    assert "Traceback" not in done.stderr


def test_spool_replay_sends_each_payload_as_its_agent_and_keeps_the_unroutable(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = two_agents
    spool_dir = tmp_path / "spool"
    writer = Spool(spool_dir)
    stranger = "33333333-3333-4333-8333-333333333333"
    for name, agent in (("b", BILLING), ("p", PLANNER), ("d", None), ("s", stranger)):
        key = writer.write(payload(name), agent)
        assert key is not None
        writer.release(key)
    monkeypatch.setenv("INFINIUM_ROUTES", str(write_routes(tmp_path)))
    monkeypatch.setenv("INFINIUM_AGENT_ID", SANDBOX_AGENT_ID)
    monkeypatch.setenv("INFINIUM_AGENT_SECRET", SANDBOX_AGENT_SECRET)
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)
    out = io.StringIO()
    code = spool_cli.main(["replay", "--dir", str(spool_dir)], out=out)
    assert stored_by_agent(sandbox) == {BILLING: ["b"], PLANNER: ["p"], SANDBOX_AGENT_ID: ["d"]}
    assert code == spool_cli.EXIT_UNDELIVERED
    assert "sent 3, refused 0, skipped 0; 1 left" in out.getvalue()
    assert f"{stranger} (1)" in out.getvalue()
    assert len(Spool(spool_dir, create=False).entries()) == 1


def test_spool_replay_stops_only_the_refused_agent(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    sandbox = two_agents
    spool_dir = tmp_path / "spool"
    writer = Spool(spool_dir)
    for name, agent in (("b1", BILLING), ("p", PLANNER), ("b2", BILLING)):
        key = writer.write(payload(name), agent)
        assert key is not None
        writer.release(key)
    monkeypatch.setenv("INFINIUM_ROUTES", str(write_routes(tmp_path)))
    monkeypatch.setenv("BILLING_AGENT_SECRET", "a-wrong-billing-secret")
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)
    out = io.StringIO()
    code = spool_cli.main(["replay", "--dir", str(spool_dir)], out=out)
    assert code == spool_cli.EXIT_AUTH
    assert stored_by_agent(sandbox) == {PLANNER: ["p"]}
    assert [r.headers["x-agent-id"] for r in sandbox.requests if r.status == 401] == [BILLING]
    assert len(Spool(spool_dir, create=False).entries()) == 2


def test_one_agents_refused_secret_stops_only_its_own_replays(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infinium_otel.client.agents import AgentClients
    from infinium_otel.delivery.worker import DeliveryWorker
    from infinium_otel.settings import Settings

    sandbox = two_agents
    spool_dir = tmp_path / "spool"
    writer = Spool(spool_dir)
    for name, agent in (("b1", BILLING), ("p1", PLANNER), ("b2", BILLING), ("p2", PLANNER)):
        key = writer.write(payload(name), agent)
        assert key is not None
        writer.release(key)
    monkeypatch.setenv("BILLING_AGENT_SECRET", "a-wrong-billing-secret")
    settings = Settings.load(
        {}, routes=str(write_routes(tmp_path)), base_url=sandbox.url, max_retries=0
    )
    worker = DeliveryWorker(
        AgentClients(settings),
        spool=Spool(spool_dir),
        spool_retry_initial=0.1,
        spool_retry_max=0.2,
        spool_start_delay=0.05,
    )
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(sandbox.traces()) < 2:
            time.sleep(0.05)
        time.sleep(1.0)  # several replay intervals: billing must not be tried again
        assert stored_by_agent(sandbox) == {PLANNER: ["p1", "p2"]}
        refused = [r for r in sandbox.requests if r.status == 401]
        assert [r.headers["x-agent-id"] for r in refused] == [BILLING]
        assert worker.stats.failed_auth == 1
        left = Spool(spool_dir, create=False).entries()
        assert len(left) == 2
    finally:
        worker.shutdown(5)


def test_doctor_checks_every_routed_agents_credentials(
    two_agents: Sandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from infinium_otel.cli import doctor

    sandbox = two_agents
    monkeypatch.setenv("INFINIUM_ROUTES", str(write_routes(tmp_path)))
    monkeypatch.setenv("INFINIUM_BASE_URL", sandbox.url)
    out = io.StringIO()
    assert doctor.main([], out=out) == 0, out.getvalue()
    text = out.getvalue()
    assert "2 route(s) to 2 agent(s)" in text and "no default agent" in text
    assert f"[ok] agent {BILLING}: endpoint reached and credentials accepted" in text
    assert f"[ok] agent {PLANNER}: endpoint reached and credentials accepted" in text
    monkeypatch.setenv("BILLING_AGENT_SECRET", "a-wrong-billing-secret")
    out = io.StringIO()
    assert doctor.main([], out=out) == 1
    text = out.getvalue()
    assert f"[FAIL] agent {BILLING}: credentials: refused (401); check the secret its route" in text
    assert f"[ok] agent {PLANNER}: endpoint reached" in text
    assert "a-wrong-billing-secret" not in text and BILLING_SECRET not in text
