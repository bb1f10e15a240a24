"""Suppress OpenTelemetry instrumentation around our own work.

The same keys ``opentelemetry.instrumentation.utils.suppress_instrumentation``
sets, without needing that package at runtime: an instrumented ``requests``
then never turns our HTTP calls into spans.
"""

from __future__ import annotations

from contextvars import Token

from opentelemetry import context
from opentelemetry.context import Context

__all__ = ["instrumentation_suppressed", "is_suppressed"]

_PLAIN_KEY = "suppress_instrumentation"  # the legacy key, still read by instrumentations
_INSTRUMENTATION_KEYS = tuple(
    dict.fromkeys([getattr(context, "_SUPPRESS_INSTRUMENTATION_KEY", _PLAIN_KEY), _PLAIN_KEY])
)
_HTTP_KEY: str | None = getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
_ALL_KEYS = _INSTRUMENTATION_KEYS + ((_HTTP_KEY,) if _HTTP_KEY else ())


class instrumentation_suppressed:  # named as the function it was: ``with ...():``
    """Within this block, OpenTelemetry instrumentations create no spans.

    The suppressing context made from the current one is remembered for the
    next block entered from that same context (a delivery thread's is the same
    every time), and a block entered where all keys are already set attaches
    nothing.
    """

    __slots__ = ("_token",)

    def __init__(self) -> None:
        self._token: Token[Context] | None = None

    def __enter__(self) -> None:
        current = context.get_current()
        global _last
        base, suppressed = _last
        if current is not base:
            if all(current.get(key) is True for key in _ALL_KEYS):
                return
            suppressed = Context({**current, **dict.fromkeys(_ALL_KEYS, True)})
            _last = (current, suppressed)
        self._token = context.attach(suppressed)

    def __exit__(self, *exc_info: object) -> None:
        token, self._token = self._token, None
        if token is not None:
            context.detach(token)


# The last context a block was entered from, and the suppressing context made from it.
_last: tuple[Context | None, Context] = (None, Context())


def is_suppressed() -> bool:
    """True inside ``instrumentation_suppressed`` or the SDK's own equivalent."""
    return any(context.get_value(key) for key in _INSTRUMENTATION_KEYS)
