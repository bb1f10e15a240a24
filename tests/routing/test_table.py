"""The routing table: how it is read, what it refuses, and which route a run takes."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from infinium_otel.errors import ConfigurationError
from infinium_otel.routing import RoutingTable, load_routes
from infinium_otel.settings import Settings
from secret_scan import register_secret

BILLING = "11111111-1111-4111-8111-111111111111"
PLANNER = "22222222-2222-4222-8222-222222222222"
BILLING_SECRET = "billing-secret-value-1"
PLANNER_SECRET = "planner-secret-value-2"
ENV = {"BILLING_AGENT_SECRET": BILLING_SECRET}

register_secret(BILLING_SECRET)
register_secret(PLANNER_SECRET)


def table(secret_file: Path) -> dict[str, Any]:
    return {
        "routes": [
            {
                "match": {"service.name": "billing"},
                "agent_id": BILLING,
                "secret_env": "BILLING_AGENT_SECRET",
            },
            {
                "match": {"gen_ai.agent.name": ["planner", "planner-v2"], "tier": "gold"},
                "agent_id": PLANNER,
                "secret_file": str(secret_file),
            },
        ]
    }


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    path = tmp_path / "planner"
    path.write_text(PLANNER_SECRET + "\n")
    return path


@pytest.fixture
def routes(secret_file: Path) -> RoutingTable:
    return load_routes(table(secret_file), environ=ENV)


@pytest.mark.parametrize(
    ("root", "resource", "agent"),
    [
        ({}, {"service.name": "billing"}, BILLING),
        # the root span's attribute wins over the resource's
        ({"service.name": "shop"}, {"service.name": "billing"}, None),
        ({"service.name": "billing"}, {"service.name": "shop"}, BILLING),
        ({"gen_ai.agent.name": "planner", "tier": "gold"}, {}, PLANNER),
        ({"gen_ai.agent.name": "planner-v2"}, {"tier": "gold"}, PLANNER),
        # every key of one match must hold
        ({"gen_ai.agent.name": "planner"}, {}, None),
        ({"gen_ai.agent.name": "planner", "tier": "silver"}, {}, None),
        # exact strings only: no prefix, no case folding, no other types
        ({"gen_ai.agent.name": "Planner", "tier": "gold"}, {}, None),
        ({}, {"service.name": "billing-eu"}, None),
        ({}, {"service.name": ["billing"]}, None),
        ({}, {}, None),
        # the first matching route wins
        ({"gen_ai.agent.name": "planner", "tier": "gold"}, {"service.name": "billing"}, BILLING),
    ],
)
def test_the_first_route_whose_every_key_holds_wins(
    routes: RoutingTable, root: dict[str, Any], resource: dict[str, Any], agent: str | None
) -> None:
    found = routes.route_for(root, resource)
    assert (found.agent_id if found else None) == agent


def test_secrets_are_resolved_at_load_and_never_shown(routes: RoutingTable) -> None:
    assert routes.secret_of(BILLING) is not None
    assert routes.secret_of(BILLING).reveal() == BILLING_SECRET  # type: ignore[union-attr]
    assert routes.secret_of(PLANNER).reveal() == PLANNER_SECRET  # type: ignore[union-attr]
    assert routes.secret_of("33333333-3333-4333-8333-333333333333") is None
    shown = repr(routes) + str(routes.routes) + repr(Settings(routes=routes))
    assert BILLING_SECRET not in shown and PLANNER_SECRET not in shown
    assert BILLING in shown and "env BILLING_AGENT_SECRET" in shown


def test_a_file_a_dict_and_the_list_give_the_same_table(tmp_path: Path, secret_file: Path) -> None:
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(table(secret_file)))
    from_file = load_routes(str(path), environ=ENV)
    assert from_file.origin == str(path)
    assert from_file.routes == load_routes(table(secret_file), environ=ENV).routes
    assert from_file.routes == load_routes(table(secret_file)["routes"], environ=ENV).routes
    assert load_routes(from_file) is from_file


def _one(route: dict[str, Any]) -> dict[str, Any]:
    return {"routes": [route]}


GOOD = {
    "match": {"service.name": "billing"},
    "agent_id": BILLING,
    "secret_env": "BILLING_AGENT_SECRET",
}


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (42, "must be a path to a JSON file"),
        ({"routes": []}, "no routes"),
        ({"rutes": []}, "unknown top-level key(s) ['rutes']"),
        ({}, "no 'routes' list"),
        ({"routes": "billing"}, "must be a path"),
        ({"routes": ["billing"]}, "routes[0] must be an object"),
        (
            _one({**GOOD, "secret": BILLING_SECRET}),
            "routes[0] writes a secret in the table ('secret')",
        ),
        (
            {"routes": [GOOD, {**GOOD, "agent_secret": BILLING_SECRET}]},
            "routes[1] writes a secret in the table ('agent_secret')",
        ),
        (_one({**GOOD, "priority": 1}), "routes[0] has unknown key(s) ['priority']"),
        (_one({**GOOD, "match": {}}), "routes[0].match must be a non-empty object"),
        (_one({**GOOD, "match": "billing"}), "routes[0].match must be a non-empty object"),
        (_one({**GOOD, "match": {"service.name": 3}}), "routes[0].match['service.name'] must be"),
        (_one({**GOOD, "match": {"service.name": []}}), "routes[0].match['service.name'] must be"),
        (_one({**GOOD, "match": {"": "x"}}), "routes[0].match has an empty attribute name"),
        (_one({**GOOD, "agent_id": "billing"}), "routes[0].agent_id must be a UUID"),
        (_one({**GOOD, "agent_id": "../../etc"}), "routes[0].agent_id must be a UUID"),
        (
            _one({"match": GOOD["match"], "agent_id": BILLING}),
            "exactly one of secret_env or secret_file",
        ),
        (
            _one({**GOOD, "secret_file": "/x"}),
            "exactly one of secret_env or secret_file",
        ),
        (_one({**GOOD, "secret_env": "NOT_SET_ANYWHERE"}), "the variable NOT_SET_ANYWHERE named"),
        (_one({**GOOD, "secret_env": "EMPTY_SECRET"}), "the variable EMPTY_SECRET named"),
        (_one({**GOOD, "secret_env": "SHORT_SECRET"}), "shorter than 8 characters"),
        (
            {"routes": [GOOD, {**GOOD, "secret_env": "OTHER_SECRET"}]},
            f"routes[0] and routes[1] name agent {BILLING} with different secrets",
        ),
    ],
)
def test_a_bad_table_is_one_clear_error_without_secret_values(raw: object, message: str) -> None:
    env = {**ENV, "EMPTY_SECRET": "  ", "SHORT_SECRET": "abc", "OTHER_SECRET": "another-secret-1"}
    with pytest.raises(ConfigurationError) as info:
        load_routes(raw, "INFINIUM_ROUTES", environ=env)
    text = str(info.value)
    assert message in text
    assert text.startswith("INFINIUM_ROUTES: ")
    assert info.value.config_key == "INFINIUM_ROUTES"
    assert BILLING_SECRET not in text and "another-secret-1" not in text
    assert info.value.__cause__ is None


def test_file_problems_name_the_file_never_its_text(tmp_path: Path) -> None:
    missing = tmp_path / "nope.json"
    with pytest.raises(ConfigurationError, match=r"cannot read the routes file .*nope\.json"):
        load_routes(str(missing))
    broken = tmp_path / "broken.json"
    broken.write_text('{"routes": [{"secret": "' + BILLING_SECRET + '",}')
    with pytest.raises(ConfigurationError) as info:
        load_routes(str(broken))
    assert "is not valid JSON (line 1)" in str(info.value)
    assert BILLING_SECRET not in str(info.value)
    unreadable = _one({**GOOD, "secret_env": None, "secret_file": str(tmp_path / "no-secret")})
    with pytest.raises(ConfigurationError) as info:
        load_routes(unreadable)
    assert "routes[0]: cannot read secret_file" in str(info.value)
    assert "no-secret" in str(info.value)
    assert "FileNotFoundError" in str(info.value)


def test_the_setting_reads_its_variable_as_a_path(
    tmp_path: Path, secret_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("BILLING_AGENT_SECRET", BILLING_SECRET)
    path = tmp_path / "routes.json"
    path.write_text(json.dumps(table(secret_file)))
    settings = Settings.load({"INFINIUM_ROUTES": str(path)})
    assert settings.routes is not None
    assert settings.routes.agent_ids == [BILLING, PLANNER]
    assert settings.override(timeout=3.0).routes == settings.routes
    with pytest.raises(ConfigurationError) as info:
        Settings.load({"INFINIUM_ROUTES": str(tmp_path / "missing.json")})
    assert info.value.config_key == "INFINIUM_ROUTES"


def test_beside_the_distro_a_routing_table_alone_adds_infinium() -> None:
    from infinium_otel.autoconfigure import plan

    distro = {"OTEL_TRACES_EXPORTER": "otlp", "OTEL_METRICS_EXPORTER": "otlp"}
    env = dict(distro, INFINIUM_ROUTES="/etc/infinium/routes.json")
    decided = plan(env, {"INFINIUM_ROUTES": env["INFINIUM_ROUTES"]}, distro_ran=True, chosen=False)
    assert decided.assign == {"OTEL_TRACES_EXPORTER": "otlp,infinium"}
    assert plan(dict(distro), {}, distro_ran=True, chosen=False).assign == {}


@pytest.mark.parametrize("doc", ["configuration.md", "gateway.md"])
def test_the_documented_tables_load(doc: str, tmp_path: Path) -> None:
    import re

    text = (Path(__file__).resolve().parents[2] / "docs" / doc).read_text(encoding="utf-8")
    (block,) = re.findall(r"```json\n(.*?)```", text, re.S)
    secret = tmp_path / "planner"
    secret.write_text(PLANNER_SECRET)
    raw = json.loads(block.replace("/run/secrets/planner", str(secret)))
    loaded = load_routes(raw, environ=ENV)
    assert loaded.agent_ids == [
        "11111111-1111-4111-8111-111111111111",
        "22222222-2222-4222-8222-222222222222",
    ]
