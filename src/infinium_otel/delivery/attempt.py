"""One send of an encoded payload and what it came to, as a typed outcome.

The delivery thread and ``infinium-otel spool replay`` both send through
``send_payload`` so that they classify the server's answers the same way: an
accepted payload, a failure worth retrying later, refused credentials, or a
payload the server will never take. A 413 gets one smaller re-encoding here.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import threading

from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.errors import (
    AuthenticationError,
    InfiniumError,
    PayloadTooLargeError,
    ValidationError,
)
from infinium_otel.payload.encode import encode_payload

__all__ = ["Attempt", "Outcome", "send_payload"]

# A payload the server called too large is re-encoded once at this share of its size.
_SHRINK_FLOOR = 1024


class Outcome(enum.Enum):
    """What one send (with the client's retries) came to."""

    DELIVERED = "delivered"
    FAILED = "failed"  # no acceptance yet (5xx, 429, network, 404, deadline): may work later
    AUTH_REFUSED = "auth_refused"  # 401/403: nothing passes until the credentials change
    REFUSED = "refused"  # 400/413 after shrinking/422: the server will never take this payload


@dataclasses.dataclass(frozen=True)
class Attempt:
    """The outcome, the server's answer when accepted, and a reason fit for a log line."""

    outcome: Outcome
    response: ApiResponse | None = None
    reason: str = ""
    shrunk: bool = False  # a 413 was answered by one smaller re-encoding

    @property
    def delivered(self) -> bool:
        return self.outcome is Outcome.DELIVERED


def send_payload(
    client: InfiniumClient,
    body: bytes,
    *,
    deadline: float | None,
    max_retries: int | None = None,
    cancel: threading.Event | None = None,
) -> Attempt:
    """POST ``body`` until accepted, refused, or the client gives up. Never raises.

    ``max_retries`` None uses the client's setting; the client's backoff and
    ``Retry-After`` apply between retries, all within ``deadline``.
    """
    shrunk = False
    while True:
        try:
            response = client.send_trace_bytes(
                body, deadline=deadline, max_retries=max_retries, cancel=cancel
            )
        except PayloadTooLargeError:
            smaller = None if shrunk else _shrink(body)
            if smaller is None:
                reason = "the server refused the payload as too large"
                return Attempt(Outcome.REFUSED, reason=reason, shrunk=shrunk)
            body, shrunk = smaller, True
            continue
        except AuthenticationError as error:
            return Attempt(
                Outcome.AUTH_REFUSED,
                reason=f"credentials refused ({error.status_code})",
                shrunk=shrunk,
            )
        except ValidationError as error:
            return Attempt(Outcome.REFUSED, reason=str(error), shrunk=shrunk)
        except InfiniumError as error:
            return Attempt(Outcome.FAILED, reason=str(error), shrunk=shrunk)
        except Exception as error:  # a defect below us must not end the caller's loop
            reason = f"unexpected {type(error).__name__}"
            return Attempt(Outcome.FAILED, reason=reason, shrunk=shrunk)
        return Attempt(Outcome.DELIVERED, response=response, shrunk=shrunk)


def _shrink(body: bytes) -> bytes | None:
    """The payload re-encoded at half its size, or None when that is impossible."""
    try:
        payload = json.loads(body)
        return encode_payload(payload, max_bytes=max(_SHRINK_FLOOR, len(body) // 2)).body
    except Exception:
        return None
