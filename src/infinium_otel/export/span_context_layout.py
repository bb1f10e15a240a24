"""Whether a ``SpanContext`` is the tuple its type declares, so hot paths can index it.

The API declares ``SpanContext`` as ``tuple[int, int, bool, TraceFlags,
TraceState, bool]``: trace id, span id, is_remote, flags, state, is_valid. Each
of its properties is a Python call; the processors ``configure()`` installs read
several per span on the application's thread, so they index the tuple instead,
once this check (made at import) has seen that the layout holds.
"""

from __future__ import annotations

from typing import Final

from opentelemetry.trace import SpanContext

__all__ = ["CONTEXT_IS_TUPLE", "SAMPLED"]

# TraceFlags.SAMPLED: the bit ``trace_flags.sampled`` reads.
SAMPLED: Final = 0x01


def _layout_holds() -> bool:
    try:
        local = SpanContext(1, 2, False, trace_flags=None)
        remote = SpanContext(3, 0, True)
        sampled = SpanContext(1, 2, False, trace_flags=SAMPLED)  # type: ignore[arg-type]
        return (
            isinstance(local, tuple)
            and len(local) == 6
            and (local[0], local[1]) == (1, 2)
            and local[2] is False
            and local[5] is True
            and remote[1] == 0
            and remote[2] is True
            and remote[5] is False
            and sampled[3] & SAMPLED == SAMPLED
            and not local[3] & SAMPLED
        )
    except Exception:  # another API version: the hot paths use the properties
        return False


CONTEXT_IS_TUPLE: Final = _layout_holds()
