"""Which client polls a run: the default agent's, or the agent's that submitted it.

With a routing table every run must be polled with its own agent's
credentials, or Infinium answers 404 for another agent's trace. The choice,
the late routing the exporter hands over, and the fresh sessions a forked
child needs are kept here, apart from the polling itself.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from infinium_otel.interpretation.outcome import InterpretationRequest
from infinium_otel.settings import Settings

if TYPE_CHECKING:
    from infinium_otel.client.agents import AgentClients
    from infinium_otel.client.sync_client import InfiniumClient

__all__ = ["PollClients"]

# The poller's one logger, the same name since before its parts had modules.
logger = logging.getLogger("infinium_otel.interpretation.processor")


class PollClients:
    """The default client and, with a routing table, one client per routed agent."""

    def __init__(self, settings: Settings, client: InfiniumClient | None) -> None:
        self._agents: AgentClients | None = None
        if settings.routes is not None:
            from infinium_otel.client.agents import AgentClients

            self._agents = AgentClients(settings, default=client)
            # Without default credentials every run is routed: any agent's client will do.
            client = (
                client or self._agents.get(None) or self._agents.get(settings.routes.agent_ids[0])
            )
        if client is None:
            from infinium_otel.client.sync_client import InfiniumClient

            client = InfiniumClient.from_settings(settings)
        self.default: InfiniumClient = client

    def route(self, agents: AgentClients) -> None:
        """From now on poll each routed run as the agent that submitted it."""
        self._agents = agents

    def for_request(self, request: InterpretationRequest) -> InfiniumClient | None:
        """The client of the agent that submitted ``request``; None when there is none."""
        if self._agents is None or request.agent_id is None:
            return self.default
        return self._agents.get(request.agent_id)

    def reset_after_fork(self) -> None:
        """In a forked child: clients with their own sessions (the parent's keep working)."""
        if self._agents is not None:
            try:
                self._agents = self._agents.clone()
            except Exception:
                logger.debug("could not rebuild the agents' clients after fork", exc_info=True)
        clone = getattr(self.default, "clone", None)
        if callable(clone):
            try:
                self.default = clone()
            except Exception:  # the parent's session still works for a child that never polls
                logger.debug("could not rebuild the client after fork", exc_info=True)
