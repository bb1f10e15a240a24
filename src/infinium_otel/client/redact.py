"""Keeping the agent secret out of every text the client shows.

A server may echo our request headers back: raw, JSON-escaped (``\\"``,
``\\u0041``, ``\\/``), URL-encoded (``%41``, ``+``) or as HTML entities, and
sometimes only the first characters. ``Redactor`` finds the secret in any of
those forms, character by character, and any run of its first
``MIN_PREFIX`` or more characters, so no part of it reaches a message.
Always redact before cutting a text short: a cut can split the secret and
leave a prefix that no longer matches.
"""

from __future__ import annotations

import html
import re
from typing import Any

__all__ = ["MASK", "MIN_PREFIX", "Redactor"]

MASK = "********"
# The shortest leading part of the secret that is masked on its own (an echo cut short).
MIN_PREFIX = 8
# JSON escapes, possibly escaped again (JSON inside JSON): one to four backslashes.
_BACKSLASHES = r"\\{1,4}"
# The longest form one character can take above (a doubly escaped surrogate pair).
_MAX_FORM = 24


def _hex(value: int, digits: int) -> str:
    """``value`` in hex, matching either letter case."""
    return "".join(f"[{c.lower()}{c.upper()}]" if c.isalpha() else c for c in f"{value:0{digits}x}")


def _char_forms(char: str) -> str:
    """A regex for one character of the secret in any form an echo may give it.

    Escaped forms come first: the pattern's tail is optional, so the engine keeps
    the first form that matches and would stop early on a literal ``\\`` or ``&``
    that actually starts an escape.
    """
    code = ord(char)
    forms = []
    if code > 0xFFFF:
        high = 0xD800 + ((code - 0x10000) >> 10)
        low = 0xDC00 + ((code - 0x10000) & 0x3FF)
        forms.append(rf"{_BACKSLASHES}u{_hex(high, 4)}{_BACKSLASHES}u{_hex(low, 4)}")
    else:
        forms.append(rf"{_BACKSLASHES}u{_hex(code, 4)}")
    if char in "\"\\/'":
        forms.append(_BACKSLASHES + re.escape(char))
    forms.append("".join(f"%{_hex(byte, 2)}" for byte in char.encode("utf-8")))
    forms.append(rf"&#0{{0,4}}{code};")
    forms.append(rf"&#[xX]0{{0,4}}{_hex(code, 1)};")
    escaped = html.escape(char)
    if escaped != char:
        forms.append(re.escape(escaped))
    if char == "'":
        forms.append("&apos;")
    if char == " ":
        forms.append(r"\+")
    forms.append(re.escape(char))
    return "(?:" + "|".join(forms) + ")"


def _prefix_pattern(parts: list[str], required: int) -> str:
    """The first ``required`` parts, then each further part only after the one before it."""
    tail = ""
    for part in reversed(parts[required:]):
        tail = f"(?:{part}{tail})?"
    return "".join(parts[:required]) + tail


class Redactor:
    """Masks the agent secret, in all its echoed forms, in text and in decoded JSON."""

    __slots__ = ("_leading", "_pattern", "_window")

    def __init__(self, secret: str) -> None:
        parts = [_char_forms(char) for char in secret]
        required = min(len(parts), MIN_PREFIX)
        self._pattern = re.compile(_prefix_pattern(parts, required)) if parts else None
        # In a text without a character that starts another form (see ``may_hold``) a
        # match writes every character as itself, so holds these leading ones as they are.
        self._leading = secret[:required]
        # However the secret is written, it spans at most this many characters.
        self._window = _MAX_FORM * len(parts) + 1
        del secret

    def may_hold(self, value: str) -> bool:
        """False only when ``value`` holds no form of the secret (nor of its leading part).

        Exact and cheap (substring searches): a match either writes some character
        in another form, which starts with ``\\`` (an escape), ``%`` (percent-encoded),
        ``&`` (an entity) or ``+`` (a space), or writes all of them as themselves, and
        so holds the secret's leading characters literally.
        """
        if self._pattern is None or not value:
            return False
        return (
            self._leading in value or "\\" in value or "%" in value or "&" in value or "+" in value
        )

    def text(self, value: str) -> str:
        """``value`` with every form of the secret (or its leading part) masked."""
        if self.may_hold(value):
            assert self._pattern is not None  # may_hold is False without one
            return self._pattern.sub(MASK, value)
        return value

    def shorten(self, value: str, limit: int) -> str:
        """Masked first, then cut to ``limit`` characters, so no cut can split the secret.

        Only the part that can reach the first ``limit`` characters is scanned.
        """
        return self.text(value[: limit + self._window])[:limit]

    def decoded(self, value: Any, source: str) -> Any:
        """``value``, decoded from the JSON text ``source``, with the secret masked.

        When ``source`` cannot hold the secret, ``value`` comes back as it is, not
        walked: without a backslash in ``source`` every string decoded from it is a
        part of it written as itself, so none of them can hold the secret either.
        """
        if not self.may_hold(source):
            return value
        return self.value(value)

    def value(self, value: Any) -> Any:
        """A copy of a decoded JSON value with the secret masked in every key and string."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, dict):
            return {self.value(k): self.value(v) for k, v in value.items()}
        if isinstance(value, list):
            return [self.value(item) for item in value]
        return value

    def __repr__(self) -> str:
        return f"Redactor({MASK})"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("Redactor cannot be pickled")
