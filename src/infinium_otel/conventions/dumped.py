"""One chat message of one text part, as ``json.dumps`` writes it, read without parsing it.

``[{"role": "user", "parts": [{"type": "text", "content": "..."}]}]`` is the commonest
message attribute (a chat call's new question, its answer). Its two strings are decoded
by the JSON decoder's own string scanner and the rest compared as text, so no objects
are built for its structure. Anything else gives None and is parsed as JSON.
"""

from __future__ import annotations

import json.decoder
from collections.abc import Callable

# The decoder's own string scanner (C): what ``json.loads`` decodes each string with.
_scanstring: Callable[[str, int], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

__all__ = ["one_text_message"]

_HEAD = '[{"role": "'
_MIDDLE = '", "parts": [{"type": "text", "content": "'
_TAIL = '"}]}]'
_ROLE_AT = len(_HEAD)
_MIDDLE_LENGTH = len(_MIDDLE) - 1  # its closing quote is the role's own, already read
_TAIL_LENGTH = len(_TAIL) - 1  # likewise the content's closing quote


def one_text_message(document: str) -> tuple[str, str] | None:
    """(role, text) of a JSON array holding exactly one such message, both non-empty, as
    ``json.loads`` would decode them; None for anything else (then parsed as JSON)."""
    if not document.endswith(_TAIL) or not document.startswith(_HEAD):
        return None  # checked first: a history (several messages, tool parts) ends otherwise
    try:
        role, at = _scanstring(document, _ROLE_AT)
        if not document.startswith(_MIDDLE, at - 1):
            return None
        said, at = _scanstring(document, at + _MIDDLE_LENGTH)
    except ValueError:  # not a valid string: parsed as JSON, which refuses it too
        return None
    if at + _TAIL_LENGTH != len(document):
        return None
    if not role or not said:
        return None
    return role, said
