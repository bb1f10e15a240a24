"""One payload sent, and what its outcome means for it.

``PayloadSender`` makes one send (``attempt.send_payload``) and carries out the
consequences: the counters, the payload's spool file (removed once accepted,
released for a later retry, or set aside when refused for good), the
listeners told about an accepted run, and a rate-limited log line for a run
not delivered. It has no queue and no thread: the delivery worker calls it
from its threads (several sends may be in flight at once) and decides when to
send and how long to retry. Counters and spool calls are made under a lock so
concurrent sends keep them exact.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Callable

from infinium_otel._logging import RateLimitedLogger
from infinium_otel.client.agents import AgentClients
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.attempt import Attempt, Outcome, send_payload
from infinium_otel.delivery.items import Delivery, DeliveryStats, RunMeta, Spool, meta_from_payload
from infinium_otel.delivery.spool_files import entry_agent
from infinium_otel.payload.run import Run

__all__ = ["DeliveryListener", "PayloadSender"]

_log = logging.getLogger("infinium_otel.delivery")

DeliveryListener = Callable[[RunMeta, ApiResponse], None]

# Spooled payloads of agents this process has no credentials for, remembered to count once.
MAX_UNROUTABLE_TRACKED = 10_000


class PayloadSender:
    """Sends payloads through ``client`` and keeps ``stats``; never raises.

    ``client`` is one client, or the clients of several agents: each payload
    goes as the agent its ``meta.agent_id`` names (None: the default one).
    """

    def __init__(
        self,
        client: InfiniumClient | AgentClients,
        *,
        spool: Spool | None,
        stats: DeliveryStats,
        warn: RateLimitedLogger,
    ) -> None:
        self.clients = client if isinstance(client, AgentClients) else AgentClients.of(client)
        self._unroutable: set[str] = set()
        # Routed agents whose credentials were refused: their spooled payloads wait on disk.
        self.refused_agents: set[str] = set()
        self.spool = spool
        self.stats = stats
        self.warn = warn
        self.listeners: list[DeliveryListener] = []
        self._swept = False
        self._lock = threading.RLock()  # counters, refused agents and spool calls

    def send(
        self,
        item: Delivery,
        *,
        deadline: float,
        max_retries: int | None,
        cancel: threading.Event | None,
    ) -> tuple[Outcome | None, bool]:
        """Send ``item``; its outcome (None when another sender took the payload over)
        and whether the payload was kept on disk for a later retry."""
        spooled = item.spool_key is not None and self.spool is not None
        if spooled and not self._call("renew", item.spool_key or ""):
            return None, False  # its claim went stale and another sender has it now
        client = self.clients.get(item.meta.agent_id)
        if client is None:  # never sent as another agent: kept (when spooled) and reported
            reason = f"no credentials for agent {item.meta.agent_id}"
            attempt = Attempt(Outcome.FAILED, reason=reason)
        else:
            attempt = send_payload(
                client, item.body, deadline=deadline, max_retries=max_retries, cancel=cancel
            )
        if attempt.shrunk:
            self.count("shrunk_after_413")
        outcome = attempt.outcome
        if outcome is Outcome.DELIVERED:
            self._delivered(item, attempt.response)
            return outcome, False
        if outcome is Outcome.REFUSED:
            self._refused(item, attempt.reason)
            return outcome, False
        if outcome is Outcome.AUTH_REFUSED:
            self.count("failed_auth")
            self._agent_refused(item.meta.agent_id)
        return outcome, self._failed(item, outcome, attempt.reason)

    def write(self, body: bytes, agent_id: str | None = None) -> str | None:
        """Store a payload in the spool before its first send; its key, None if not stored."""
        if self.spool is None:
            return None
        try:
            with self._lock:
                key = self.spool.write(body, agent_id) if agent_id else self.spool.write(body)
        except Exception as error:
            self.count("spool_write_failed")
            self.warn.log(
                logging.WARNING,
                "spool-write",
                "Infinium spool: could not write a payload (%s); it is sent from memory only",
                type(error).__name__,
            )
            return None
        if key is not None:
            self.count("spooled")
        return key

    def keep_unsent(self, work: Run | Delivery) -> bool:
        """A payload leaving memory unsent stays on disk when there is a spool; True if so."""
        if self.spool is None or not isinstance(work, Delivery):
            return False  # a run not prepared yet has no payload to keep
        if work.spool_key is None:
            work.spool_key = self.write(work.body, work.meta.agent_id)
        return self._release(work)

    def entries_waiting(self) -> bool:
        """True when the spool holds entries (this process's or others')."""
        if self.spool is None:
            return False
        try:
            return bool(self.spool.entries())
        except Exception:
            _log.warning("Infinium spool: cannot list the spool", exc_info=True)
            return False

    def claim_next(self) -> Delivery | None:
        """The oldest spooled payload nobody is sending, claimed for a retry."""
        if self.spool is None:
            return None
        if not self._swept:
            self._swept = True
            try:
                with self._lock:
                    self.spool.sweep_temp_files()
            except Exception:
                _log.warning("Infinium spool: sweep_temp_files failed", exc_info=True)
        try:
            with self._lock:
                claimed = self.spool.claim_next(self._routable_entry)
        except Exception:
            _log.warning("Infinium spool: cannot read the spool", exc_info=True)
            return None
        if claimed is None:
            return None
        key, body = claimed
        self.count("retried")
        meta = dataclasses.replace(meta_from_payload(body), agent_id=entry_agent(key))
        return Delivery(body=body, meta=meta, spool_key=key, replayed=True)

    def _routable_entry(self, key: str) -> bool:
        """Whether a spooled payload's agent has credentials here; else it stays, reported."""
        agent = entry_agent(key)
        if agent in self.refused_agents:
            return False  # refused once already: kept until the secret is fixed
        if self.clients.routable(agent):
            return True
        if key not in self._unroutable and len(self._unroutable) < MAX_UNROUTABLE_TRACKED:
            self._unroutable.add(key)
            self.count("spool_unroutable")
            self.warn.log(
                logging.WARNING,
                f"unroutable-{agent}",
                "Infinium spool: payloads of agent %s are kept on disk, not sent: no route or "
                "default credentials name that agent here (add its route, then replay)",
                agent,
            )
        return False

    # -- consequences ------------------------------------------------------

    def _agent_refused(self, agent_id: str | None) -> None:
        """A routed agent's credentials were refused: stop replaying its payloads (only)."""
        with self._lock:
            if agent_id is None or agent_id in self.refused_agents:
                return
            self.refused_agents.add(agent_id)
        _log.error(
            "Infinium: the credentials of agent %s were refused (401/403); its spooled runs "
            "are kept on disk and no longer retried by this process. Fix the secret its "
            "route names, then run `infinium-otel spool replay`.",
            agent_id,
        )

    def _delivered(self, item: Delivery, response: ApiResponse | None) -> None:
        # The spool entry goes first, so a reader who sees the count sees the entry gone.
        if item.spool_key is not None:
            self._call("remove", item.spool_key)
        with self._lock:
            self.stats.delivered += 1
            self.refused_agents.discard(item.meta.agent_id or "")  # its credentials work again
            if item.replayed:
                self.stats.replayed += 1
        if response is None:
            return
        for listener in list(self.listeners):
            try:
                listener(item.meta, response)
            except Exception:
                _log.exception("Infinium delivery: a delivery listener failed")

    def _failed(self, item: Delivery, outcome: Outcome, reason: str) -> bool:
        """Not accepted (yet): keep a spooled payload for later (True), else count it lost."""
        kept = self._release(item)
        self.count("spool_deferred" if kept else "failed")
        if item.replayed and kept:
            _log.debug("Infinium: spooled run %r not delivered yet: %s", item.meta.run_name, reason)
            return kept
        self.warn.log(
            logging.WARNING,
            outcome.value,
            "Infinium: run %r was not delivered: %s%s",
            item.meta.run_name,
            reason,
            " (kept in the spool for a later retry)" if kept else "",
        )
        return kept

    def _refused(self, item: Delivery, reason: str) -> None:
        """The server will never take this payload: set it aside, never resend it."""
        self.count("failed")
        aside = ""
        if item.spool_key is not None and self.spool is not None:
            self._call("reject", item.spool_key)
            aside = " (moved to the spool's rejected/ folder)"
        self.warn.log(
            logging.WARNING,
            "refused",
            "Infinium: run %r was not delivered: %s%s",
            item.meta.run_name,
            reason,
            aside,
        )

    def _release(self, item: Delivery) -> bool:
        """Hand a spooled payload back to the spool for a later retry; True when kept."""
        if item.spool_key is None or self.spool is None:
            return False
        kept = self._call("release", item.spool_key)
        item.spool_key = None
        return kept

    def _call(self, name: str, key: str) -> bool:
        """``spool.<name>(key)``, never raising; False when it failed or said so."""
        try:
            with self._lock:
                result = getattr(self.spool, name)(key)
        except Exception:
            _log.warning("Infinium spool: %s failed", name, exc_info=True)
            return False
        return result is not False

    def count(self, counter: str) -> None:
        """Add one to a counter; under the lock, as sends may end on several threads at once."""
        with self._lock:
            setattr(self.stats, counter, getattr(self.stats, counter) + 1)
