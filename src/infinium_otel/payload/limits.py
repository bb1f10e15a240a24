"""Our own caps for text the contract leaves open (the platform SDK's string limit)."""

from __future__ import annotations

__all__ = ["SHORT_TEXT_MAX", "TEXT_MAX"]

TEXT_MAX = 2_000
SHORT_TEXT_MAX = 500
