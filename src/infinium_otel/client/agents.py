"""One client per agent: the default credentials' and one per routed agent.

Clients are made on first use, so a table of many agents costs only the
sessions it uses; there are never more than the table's agents plus the
default one. ``get`` answers None for an agent this process has no
credentials for: the caller keeps such a payload rather than send it as
another agent.
"""

from __future__ import annotations

import contextlib
import logging
import threading

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.settings import Settings

__all__ = ["AgentClients"]

_log = logging.getLogger("infinium_otel.client")


class AgentClients:
    """Clients by agent id (None: the default credentials); thread-safe, never raises in ``get``."""

    def __init__(self, settings: Settings | None, *, default: InfiniumClient | None = None) -> None:
        self._settings = settings
        self._lock = threading.Lock()
        self._clients: dict[str | None, InfiniumClient] = {}
        if default is not None:
            self._clients[None] = default
        self._default_id = self._find_default_id(settings, default)

    @classmethod
    def of(cls, client: InfiniumClient) -> AgentClients:
        """Only ``client``: every payload goes as its agent (no routing table)."""
        return cls(None, default=client)

    @staticmethod
    def _find_default_id(settings: Settings | None, default: InfiniumClient | None) -> str | None:
        if default is not None:  # a stand-in client may not say its agent: "" still routes
            agent = getattr(default, "agent_id", None)
            return agent.lower() if isinstance(agent, str) else ""
        if settings is not None and settings.agent_id and settings.agent_secret is not None:
            return settings.agent_id.lower()
        return None

    def __repr__(self) -> str:
        with self._lock:
            made = sorted(str(agent) for agent in self._clients)
        return f"AgentClients(default={self._default_id!r}, clients={made})"

    @property
    def default_agent_id(self) -> str | None:
        """The default credentials' agent, None when there are none."""
        return self._default_id

    def routable(self, agent_id: str | None) -> bool:
        """True when this process holds credentials for ``agent_id`` (None: the default)."""
        if agent_id is None or agent_id.lower() == self._default_id:
            return self._default_id is not None
        routes = self._settings.routes if self._settings is not None else None
        return routes is not None and routes.secret_of(agent_id) is not None

    def get(self, agent_id: str | None) -> InfiniumClient | None:
        """The client for ``agent_id`` (made now if needed); None when not routable."""
        if not self.routable(agent_id):
            return None
        key = self._key(agent_id)
        with self._lock:
            client = self._clients.get(key)
            if client is None:
                try:
                    client = self._make(key)
                except Exception as error:  # settings were checked at load: not expected
                    _log.error("Infinium: cannot make a client (%s)", type(error).__name__)
                    return None
                self._clients[key] = client
            return client

    def _key(self, agent_id: str | None) -> str | None:
        """The table key of a routable agent: its id when routed, None for the default."""
        routes = self._settings.routes if self._settings is not None else None
        if agent_id is None:
            return None
        wanted = agent_id.lower()
        if routes is not None and routes.secret_of(wanted) is not None:
            return wanted
        return None

    def _make(self, key: str | None) -> InfiniumClient:
        settings = self._settings
        assert settings is not None  # only routed or settings-backed keys get here
        if key is None:
            return InfiniumClient.from_settings(settings)
        assert settings.routes is not None
        secret = settings.routes.secret_of(key)
        return InfiniumClient.from_settings(settings.override(agent_id=key, agent_secret=secret))

    def all(self) -> list[InfiniumClient]:
        """The clients made so far."""
        with self._lock:
            return list(self._clients.values())

    def close(self) -> None:
        for client in self.all():
            with contextlib.suppress(Exception):  # closing is best effort
                client.close()

    def clone(self) -> AgentClients:
        """Fresh sessions (after fork): the default client cloned, routed ones made anew."""
        with self._lock:
            default = self._clients.get(None)
        fresh = AgentClients(self._settings, default=default.clone() if default else None)
        if default is None:
            fresh._default_id = self._default_id
        return fresh
