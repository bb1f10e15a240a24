"""Per-agent routing: which agent's credentials each run is sent with.

Infinium credentials belong to one agent, and one process (or one gateway)
often serves several. A routing table maps a run to an agent id and secret by
its root span's attributes, then its resource's (``service.name``,
``gen_ai.agent.name``, any other). The first route whose every ``match`` key
holds wins; a run no route matches uses the default credentials, or is dropped
when there are none: never sent with another agent's.

Secrets are only referenced (``secret_env`` or ``secret_file``) and resolved
once, when the table is loaded, so a missing variable or unreadable file is an
error at start rather than a failed send later. No error, repr or log line
ever holds a secret's value. Parsing and matching are pure (file reads aside).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

from infinium_otel.credentials import Secret, is_valid_uuid
from infinium_otel.errors import ConfigurationError

__all__ = ["Route", "RoutingTable", "load_routes"]

# Bounds: a table is configuration, not data.
MAX_ROUTES = 1_000
MAX_TABLE_BYTES = 1024 * 1024
MAX_SECRET_FILE_BYTES = 64 * 1024
MIN_SECRET_LENGTH = 8

_ROUTE_KEYS = frozenset({"match", "agent_id", "secret_env", "secret_file"})


@dataclasses.dataclass(frozen=True)
class Route:
    """One route: every ``match`` attribute holds one of its values -> this agent."""

    index: int
    match: tuple[tuple[str, frozenset[str]], ...]
    agent_id: str
    secret: Secret = dataclasses.field(repr=False)
    secret_source: str  # "env NAME" or "file PATH": where the secret came from, never it

    def matches(self, root: Mapping[str, Any], resource: Mapping[str, Any]) -> bool:
        """True when every key holds: looked up on the root span, then the resource."""
        for key, alternatives in self.match:
            value = root[key] if key in root else resource.get(key)
            if not isinstance(value, str) or value not in alternatives:
                return False
        return True


@dataclasses.dataclass(frozen=True)
class RoutingTable:
    """Routes in order; ``route_for`` is the first that matches a run, or None."""

    routes: tuple[Route, ...]
    origin: str = "routes"  # the file it came from, or the keyword

    def __repr__(self) -> str:
        count, agents = len(self.routes), self.agent_ids
        return f"RoutingTable({count} routes from {self.origin!r}, agents={agents})"

    @property
    def agent_ids(self) -> list[str]:
        """The distinct agents, in table order."""
        return list(dict.fromkeys(route.agent_id for route in self.routes))

    def route_for(self, root: Mapping[str, Any], resource: Mapping[str, Any]) -> Route | None:
        for route in self.routes:
            if route.matches(root, resource):
                return route
        return None

    def secret_of(self, agent_id: str) -> Secret | None:
        """The secret of a routed agent, None for an agent not in the table."""
        wanted = agent_id.lower()
        for route in self.routes:
            if route.agent_id == wanted:
                return route.secret
        return None


def load_routes(
    raw: object, key: str = "routes", environ: Mapping[str, str] | None = None
) -> RoutingTable:
    """A checked table from a path to a JSON file, a dict or the list of routes.

    Every problem is one ``ConfigurationError`` that names ``key`` and the route
    index (``routes[2]``), never a secret's value.
    """
    if isinstance(raw, RoutingTable):
        return raw
    env = os.environ if environ is None else environ
    origin = key
    if isinstance(raw, (str, os.PathLike)):
        origin = str(os.fspath(raw))
        raw = _read_table_file(origin, key)
    if isinstance(raw, Mapping):
        unknown = sorted(str(name) for name in raw if name != "routes")
        if unknown:
            raise _error(
                key, f"unknown top-level key(s) {unknown}; the table is {{'routes': [...]}}"
            )
        if "routes" not in raw:
            raise _error(key, "the table has no 'routes' list")
        raw = raw["routes"]
    if isinstance(raw, (str, bytes)) or not isinstance(raw, Sequence):
        raise _error(
            key,
            "must be a path to a JSON file, a dict {'routes': [...]} or a list of routes; "
            f"got {type(raw).__name__}",
        )
    if not raw:
        raise _error(key, "the table has no routes")
    if len(raw) > MAX_ROUTES:
        raise _error(key, f"the table has {len(raw)} routes; at most {MAX_ROUTES} are allowed")
    routes = tuple(_route(index, item, key, env) for index, item in enumerate(raw))
    _check_one_secret_per_agent(routes, key)
    return RoutingTable(routes=routes, origin=origin)


def _read_table_file(path: str, key: str) -> object:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_TABLE_BYTES + 1)
    except OSError as error:
        reason = type(error).__name__
        raise _error(key, f"cannot read the routes file {path!r} ({reason})") from None
    if len(data) > MAX_TABLE_BYTES:
        raise _error(key, f"the routes file {path!r} is larger than {MAX_TABLE_BYTES} bytes")
    try:
        return json.loads(data)
    except ValueError as error:
        # The decoder's message names a position, never the text around it.
        where = f"line {error.lineno}" if isinstance(error, json.JSONDecodeError) else "its text"
        raise _error(key, f"the routes file {path!r} is not valid JSON ({where})") from None


def _route(index: int, item: object, key: str, env: Mapping[str, str]) -> Route:
    where = f"routes[{index}]"
    if not isinstance(item, Mapping):
        raise _error(key, f"{where} must be an object, got {type(item).__name__}")
    names = [str(name) for name in item]
    literal = sorted(name for name in names if "secret" in name.lower() and name not in _ROUTE_KEYS)
    if literal:
        raise _error(
            key,
            f"{where} writes a secret in the table ({literal[0]!r}); give it by reference "
            "with secret_env (a variable's name) or secret_file (a path)",
        )
    unknown = sorted(set(names) - _ROUTE_KEYS)
    if unknown:
        raise _error(key, f"{where} has unknown key(s) {unknown}; allowed: {sorted(_ROUTE_KEYS)}")
    agent_id = item.get("agent_id")
    if not isinstance(agent_id, str) or not is_valid_uuid(agent_id.strip()):
        raise _error(key, f"{where}.agent_id must be a UUID (8-4-4-4-12 hex)")
    secret, source = _secret(where, item, key, env)
    return Route(
        index=index,
        match=_match(where, item.get("match"), key),
        agent_id=agent_id.strip().lower(),
        secret=secret,
        secret_source=source,
    )


def _match(where: str, raw: object, key: str) -> tuple[tuple[str, frozenset[str]], ...]:
    if not isinstance(raw, Mapping) or not raw:
        raise _error(key, f"{where}.match must be a non-empty object of attribute: value")
    pairs: list[tuple[str, frozenset[str]]] = []
    for name, value in raw.items():
        if not isinstance(name, str) or not name.strip():
            raise _error(key, f"{where}.match has an empty attribute name")
        values = [value] if isinstance(value, str) else value
        if (
            not isinstance(values, (list, tuple))
            or not values
            or not all(isinstance(v, str) for v in values)
        ):
            raise _error(
                key, f"{where}.match[{name!r}] must be a string or a non-empty list of strings"
            )
        pairs.append((name, frozenset(values)))
    return tuple(pairs)


def _secret(
    where: str, item: Mapping[str, Any], key: str, env: Mapping[str, str]
) -> tuple[Secret, str]:
    variable, path = item.get("secret_env"), item.get("secret_file")
    if (variable is None) == (path is None):
        raise _error(key, f"{where} needs exactly one of secret_env or secret_file")
    if variable is not None:
        if not isinstance(variable, str) or not variable.strip():
            raise _error(key, f"{where}.secret_env must be a variable name")
        value = (env.get(variable) or "").strip()
        if not value:
            raise _error(key, f"{where}: the variable {variable} named by secret_env is not set")
        source = f"env {variable}"
    else:
        if not isinstance(path, str) or not path.strip():
            raise _error(key, f"{where}.secret_file must be a path")
        value = _read_secret_file(where, path, key)
        source = f"file {path}"
    if len(value) < MIN_SECRET_LENGTH:
        raise _error(
            key, f"{where}: the secret from {source} is shorter than {MIN_SECRET_LENGTH} characters"
        )
    return Secret(value), source


def _read_secret_file(where: str, path: str, key: str) -> str:
    try:
        with open(path, "rb") as handle:
            data = handle.read(MAX_SECRET_FILE_BYTES + 1)
    except OSError as error:
        raise _error(
            key, f"{where}: cannot read secret_file {path!r} ({type(error).__name__})"
        ) from None
    if len(data) > MAX_SECRET_FILE_BYTES:
        limit = MAX_SECRET_FILE_BYTES
        raise _error(key, f"{where}: secret_file {path!r} is larger than {limit} bytes")
    try:
        return data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise _error(key, f"{where}: secret_file {path!r} is not UTF-8 text") from None


def _check_one_secret_per_agent(routes: Sequence[Route], key: str) -> None:
    """Two routes to one agent must use one secret (else which one is right?)."""
    first: dict[str, Route] = {}
    for route in routes:
        earlier = first.setdefault(route.agent_id, route)
        if earlier.secret != route.secret:
            raise _error(
                key,
                f"routes[{earlier.index}] and routes[{route.index}] name agent "
                f"{route.agent_id} with different secrets",
            )


def _error(key: str, message: str) -> ConfigurationError:
    return ConfigurationError(f"{key}: {message}", config_key=key)
