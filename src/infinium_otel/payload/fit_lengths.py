"""Byte lengths in a JSON body, worked out without encoding the whole body again.

Fitting a payload follows the length of each part as it shrinks: what a capped
text saves, what a renumbered step gains or loses. Each function gives the
bytes the standard encoder would write (escapes, UTF-8, repaired surrogates).
"""

from __future__ import annotations

import json
from typing import Any

from infinium_otel._text import TRUNCATION_MARKER, cap
from infinium_otel.payload.json_encoder import _dumps

_ENCODE_TEXT = json.encoder.encode_basestring


def _member(key: str, value: Any) -> bytes:
    return _dumps(key) + b":" + _dumps(value)


def _length(value: Any) -> int | None:
    try:
        return len(value)
    except TypeError:
        return None


def _list_length(lengths: list[int]) -> int:
    """Length of a JSON list of items of these lengths: brackets and commas included."""
    return 2 + sum(lengths) + max(0, len(lengths) - 1)


def _text_length(value: str) -> int:
    """Bytes of ``value`` as a JSON string in a body (quotes, escapes, UTF-8)."""
    encoded = _ENCODE_TEXT(value)
    if encoded.isascii():
        return len(encoded)
    try:
        return len(encoded.encode("utf-8"))
    except UnicodeEncodeError:
        repaired = encoded.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return len(repaired.encode("utf-8"))


def _cut_saving(value: str, capped: str) -> int:
    """Bytes ``capped`` (``value`` cut by ``cap``) saves in a body.

    Escapes and UTF-8 are per character, so the saving is the cut-off tail's
    bytes less the marker's; when the tail is not ASCII (a surrogate pair could
    straddle the cut) both texts are measured whole.
    """
    tail = value[len(capped) - len(TRUNCATION_MARKER) :]
    if tail.isascii():
        return len(_ENCODE_TEXT(tail)) - 2 - len(TRUNCATION_MARKER)
    return _text_length(value) - _text_length(capped)


def _cut_savings(values: list[str], limit: int) -> int:
    """Bytes capping each of ``values`` (all longer than ``limit``) at ``limit`` saves.

    As ``_cut_saving`` for each, but with all the cut-off tails measured at once.
    """
    tails = "".join([value[max(0, limit - len(TRUNCATION_MARKER)) :] for value in values])
    if tails.isascii():
        return len(_ENCODE_TEXT(tails)) - 2 - len(TRUNCATION_MARKER) * len(values)
    return sum(_cut_saving(value, cap(value, limit)) for value in values)


def _number_length(value: int) -> int:
    """Bytes of a whole number (or a bool, which is an int too) in a body."""
    if value is True:
        return 4
    if value is False:
        return 5
    return len(str(int(value)))


def _renumbered(body: bytes | None, number: Any, step: dict[str, Any]) -> bytes | None:
    """A step's bytes with only its ``step_number`` changed, patched; None to encode it again."""
    if body is None or type(number) is not int or type(step.get("step_number")) is not int:
        return None
    old = b'{"step_number":%d' % number
    if not body.startswith(old) or body[len(old) : len(old) + 1] not in (b",", b"}"):
        return None
    return b'{"step_number":%d' % step["step_number"] + body[len(old) :]
