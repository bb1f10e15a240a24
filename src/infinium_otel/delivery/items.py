"""What flows through delivery: a run's identity, a queued payload, why a run
never became one, the spool's interface and the counters. Kept apart from the
worker so the spool and the exporter can use them without the thread machinery.
"""

from __future__ import annotations

import dataclasses
import enum
import json
from collections.abc import Callable, Sequence
from typing import Protocol

__all__ = ["Delivery", "DeliveryStats", "NotSent", "RunMeta", "Spool", "meta_from_payload"]


@dataclasses.dataclass(frozen=True)
class RunMeta:
    """What the interpretation processor needs to tie a result back to the run."""

    otel_trace_id: int
    otel_span_id: int
    run_name: str
    agent_name: str | None = None
    service_name: str | None = None
    agent_id: str | None = None  # the routed agent it is sent as; None: the default one


@dataclasses.dataclass
class Delivery:
    body: bytes
    meta: RunMeta
    spool_key: str | None = None
    shrunk: bool = False
    replayed: bool = False  # read back from the spool, not fresh from the exporter


class NotSent(enum.Enum):
    """Why a run handed to delivery never became a payload."""

    DROPPED_BY_HOOK = "dropped_by_hook"  # the payload hook returned None: the user's choice
    HOOK_FAILED = "hook_failed"  # the hook raised, or returned something other than a dict
    CONVERSION_FAILED = "conversion_failed"  # conversion or encoding failed
    UNROUTED = "unrouted"  # no route matched and there are no default credentials

    @property
    def is_failure(self) -> bool:
        """Dropping by the hook's choice is no failure; the others lose a run."""
        return self is not NotSent.DROPPED_BY_HOOK


class Spool(Protocol):
    """Durable storage for payloads until the server accepts them (see spool.py).

    ``write`` stores and claims a payload for this sender; ``remove`` deletes it
    once accepted; ``release`` hands it back for a later retry; ``renew``
    refreshes the claim before a send (False: another sender took it);
    ``reject`` sets aside a payload the server refused for good; ``claim_next``
    claims the oldest payload any sender left behind (whose key ``accept`` takes).
    ``agent_id`` names a routed run's agent, kept with the payload.
    """

    def write(self, body: bytes, agent_id: str | None = None) -> str | None: ...

    def remove(self, key: str) -> None: ...

    def release(self, key: str) -> bool: ...

    def renew(self, key: str) -> bool: ...

    def reject(self, key: str) -> None: ...

    def claim_next(
        self, accept: Callable[[str], bool] | None = None
    ) -> tuple[str, bytes] | None: ...

    def entries(self) -> Sequence[object]: ...

    def sweep_temp_files(self) -> int: ...


@dataclasses.dataclass
class DeliveryStats:
    queued: int = 0
    delivered: int = 0
    failed: int = 0
    failed_auth: int = 0
    dropped_queue_full: int = 0
    dropped_after_shutdown: int = 0
    abandoned_at_shutdown: int = 0
    shrunk_after_413: int = 0
    spooled: int = 0  # payloads written to the spool before their first send
    spool_write_failed: int = 0
    spool_deferred: int = 0  # attempts that failed but left the payload on disk
    retried: int = 0  # sends of payloads read back from the spool
    replayed: int = 0  # of those, accepted
    spool_dropped_full: int = 0
    spool_corrupt: int = 0
    spool_rejected: int = 0
    spool_claim_lost: int = 0
    spool_unroutable: int = 0  # spooled payloads of an agent with no credentials here, kept


def meta_from_payload(body: bytes) -> RunMeta:
    """Rebuild a spooled run's identity from its payload (name and OTel ids in custom tags)."""
    try:
        payload = json.loads(body)
    except ValueError:
        payload = {}
    if not isinstance(payload, dict):
        payload = {}
    environment = payload.get("environment")
    tags = environment.get("custom_tags") if isinstance(environment, dict) else None
    tags = tags if isinstance(tags, dict) else {}
    name = str(payload.get("name", "spooled run"))
    service = tags.get("service.name")
    return RunMeta(
        otel_trace_id=_hex_id(tags.get("otel.trace_id")),
        otel_span_id=_hex_id(tags.get("otel.span_id")),
        run_name=name,
        agent_name=name,
        service_name=str(service) if service is not None else None,
    )


def _hex_id(value: object) -> int:
    try:
        return int(str(value), 16) if value is not None else 0
    except ValueError:
        return 0
