"""What an agent's credentials are made of: the secret that never shows, and the id's shape.

A leaf, so that the settings table and the routing table (which the settings load)
both read it without leaning on each other.
"""

from __future__ import annotations

import re
from typing import Any

__all__ = ["Secret", "is_valid_uuid"]

_UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$", re.I)


class Secret:
    """Holds the agent secret so that no repr, str or format can show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        """The secret itself, for the one place that needs it: the request header."""
        return self._value

    def __repr__(self) -> str:
        return "Secret('********')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __reduce__(self) -> Any:
        raise TypeError("Secret cannot be pickled")


def is_valid_uuid(value: str) -> bool:
    """True for an ``8-4-4-4-12`` hex id (no path characters can hide in one)."""
    return bool(_UUID_RE.match(value))
