"""The one way text is cut to a limit in this package, and the marker that shows the cut.

Conversion (``payload``), the convention readers and the instrumentors all use
``cap``, so a reader of a payload or a span sees one marker wherever text was cut.
"""

from __future__ import annotations

__all__ = ["TRUNCATION_MARKER", "cap"]

TRUNCATION_MARKER = "..."
"""What ends a text that ``cap`` cut."""


def cap(value: str, limit: int) -> str:
    """``value`` cut to ``limit`` characters, ending with "..." when cut."""
    if len(value) <= limit:
        return value
    return value[: max(0, limit - len(TRUNCATION_MARKER))] + TRUNCATION_MARKER
