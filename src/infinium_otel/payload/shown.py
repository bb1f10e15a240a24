"""Values as the payload shows them, with the common plain cases answered at once.

``plain_text(cap(value, limit))`` and ``plain_number(value)`` are what conversion
sends; nearly every value is already a short ``str``, an ``int`` or a finite
``float``, which these return as they are without the general cleaning.
"""

from __future__ import annotations

import math
from typing import Any

from infinium_otel.payload.encode import cap
from infinium_otel.payload.order import plain_number, plain_text

__all__ = ["shown_number", "shown_text"]


def shown_text(value: str, limit: int) -> str:
    """``plain_text(cap(value, limit))``."""
    if type(value) is str and len(value) <= limit:
        return value
    return plain_text(cap(value, limit))


def shown_number(value: Any) -> Any:
    """``plain_number(value)``: None for NaN and infinities."""
    kind = type(value)
    if kind is int:
        return value
    if kind is float:
        return value if math.isfinite(value) else None
    return plain_number(value)
