"""Suppress OpenTelemetry instrumentation around our own work.

The same keys ``opentelemetry.instrumentation.utils.suppress_instrumentation``
sets, without needing that package at runtime: an instrumented ``requests``
then never turns our HTTP calls into spans.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from opentelemetry import context

__all__ = ["instrumentation_suppressed", "is_suppressed"]

_PLAIN_KEY = "suppress_instrumentation"  # the legacy key, still read by instrumentations
_INSTRUMENTATION_KEYS = tuple(
    dict.fromkeys([getattr(context, "_SUPPRESS_INSTRUMENTATION_KEY", _PLAIN_KEY), _PLAIN_KEY])
)
_HTTP_KEY: str | None = getattr(context, "_SUPPRESS_HTTP_INSTRUMENTATION_KEY", None)
_ALL_KEYS = _INSTRUMENTATION_KEYS + ((_HTTP_KEY,) if _HTTP_KEY else ())


@contextmanager
def instrumentation_suppressed() -> Iterator[None]:
    """Within this block, OpenTelemetry instrumentations create no spans."""
    ctx = context.get_current()
    for key in _ALL_KEYS:
        ctx = context.set_value(key, True, ctx)
    token = context.attach(ctx)
    try:
        yield
    finally:
        context.detach(token)


def is_suppressed() -> bool:
    """True inside ``instrumentation_suppressed`` or the SDK's own equivalent."""
    return any(context.get_value(key) for key in _INSTRUMENTATION_KEYS)
