"""Shared pieces for the routing tests: two agents on one sandbox, a table naming them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from infinium_otel.sandbox import Sandbox
from secret_scan import register_secret

BILLING = "11111111-1111-4111-8111-111111111111"
PLANNER = "22222222-2222-4222-8222-222222222222"
BILLING_SECRET = "billing-route-secret-1"
PLANNER_SECRET = "planner-route-secret-2"
WRONG_SECRETS = ("a-wrong-billing-secret", "billing-wrong-secret-9", "not-the-billing-secret")
for _secret in (BILLING_SECRET, PLANNER_SECRET, *WRONG_SECRETS):
    register_secret(_secret)


def routes_table(secret_file: Path, key: str = "gen_ai.agent.name") -> dict[str, Any]:
    """billing by its secret variable, planner by its secret file; matched on ``key``."""
    return {
        "routes": [
            {"match": {key: "billing"}, "agent_id": BILLING, "secret_env": "BILLING_AGENT_SECRET"},
            {"match": {key: "planner"}, "agent_id": PLANNER, "secret_file": str(secret_file)},
        ]
    }


def write_routes(directory: Path, key: str = "gen_ai.agent.name") -> Path:
    secret_file = directory / "planner-secret"
    secret_file.write_text(PLANNER_SECRET + "\n")
    path = directory / "routes.json"
    path.write_text(json.dumps(routes_table(secret_file, key)))
    return path


@pytest.fixture
def two_agents(sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch) -> Iterator[Sandbox]:
    """The test's sandbox accepting billing and planner too; no default credentials set."""
    sandbox.add_agent(BILLING, BILLING_SECRET)
    sandbox.add_agent(PLANNER, PLANNER_SECRET)
    monkeypatch.setenv("BILLING_AGENT_SECRET", BILLING_SECRET)
    for name in ("INFINIUM_AGENT_ID", "INFINIUM_AGENT_SECRET", "INFINIUM_ROUTES"):
        monkeypatch.delenv(name, raising=False)
    yield sandbox


def stored_by_agent(sandbox: Sandbox) -> dict[str, list[str]]:
    """Run names stored under each agent id."""
    found: dict[str, list[str]] = {}
    for trace in sandbox.traces():
        found.setdefault(trace.agent_id, []).append(str(trace.payload["name"]))
    return {agent: sorted(names) for agent, names in found.items()}
