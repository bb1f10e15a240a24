"""Tolerant attribute readers: any type the OTel SDK lets through comes out typed or None.

Attribute values arrive as str, bool, int, float, bytes or (mixed) sequences of
those; JSON-valued attributes may hold text that is not JSON. None of these
may fail a run, so every reader here answers ``None`` instead of raising.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TypeGuard

# ``json.loads`` without its wrappers: the C scanner it ends in (``(value, end)`` from an
# index; StopIteration where no value starts), and the only whitespace it lets follow a value.
SCAN_JSON: Callable[[str, int], tuple[Any, int]] = json.JSONDecoder().scan_once  # type: ignore[attr-defined]
JSON_WHITESPACE = " \t\n\r"

__all__ = [
    "JSON_WHITESPACE",
    "SCAN_JSON",
    "first",
    "integer",
    "is_mapping",
    "json_value",
    "number",
    "string_list",
    "text",
]


# Types JSON values and span attributes come in that are never mappings.
_NEVER_MAPPINGS = frozenset({type(None), str, int, float, bool, list, tuple, bytes})


def is_mapping(value: object) -> TypeGuard[Mapping[str, Any]]:
    """``isinstance(value, Mapping)``, with the types parsed JSON and attributes hold answered
    without the ABC's check, which costs more than the rest of most readers."""
    kind = type(value)
    return kind is dict or (kind not in _NEVER_MAPPINGS and isinstance(value, Mapping))


def text(value: Any) -> str | None:
    """Readable text of an attribute value; sequences are joined with ", "."""
    if isinstance(value, str):
        return value or None
    if value is None:
        return None
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace") or None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value) if not isinstance(value, float) or math.isfinite(value) else None
    if isinstance(value, (list, tuple)):
        parts = [t for t in (text(v) for v in value) if t]
        return ", ".join(parts) or None
    if is_mapping(value):
        return to_json(value)
    return None


def integer(value: Any) -> int | None:
    """A non-negative count (tokens, status codes); None for anything else."""
    if type(value) is int:  # the common case, answered first
        return value if value >= 0 else None
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if value >= 0 else None
    if isinstance(value, float):
        return int(value) if math.isfinite(value) and value >= 0 else None
    if isinstance(value, (str, bytes)):
        try:
            return integer(float(value))
        except ValueError:
            return None
    return None


def number(value: Any, minimum: float | None = None) -> float | None:
    """A finite float not under ``minimum``; None for NaN, infinities and non-numbers."""
    if type(value) is float:  # the common case, answered first
        if not math.isfinite(value) or (minimum is not None and value < minimum):
            return None
        return value
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        result = float(value)
        if not math.isfinite(result) or (minimum is not None and result < minimum):
            return None
        return result
    if isinstance(value, (str, bytes)):
        try:
            return number(float(value), minimum)
        except ValueError:
            return None
    return None


def string_list(value: Any) -> list[str] | None:
    """A list of non-empty strings from a sequence attribute (or a single string)."""
    if isinstance(value, (list, tuple)):
        items = [t for t in (text(v) for v in value) if t]
        return items or None
    single = text(value)
    return [single] if single else None


def json_value(value: Any) -> Any:
    """Parsed JSON of a string attribute; a non-string value as is; None when invalid."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    if isinstance(value, str):
        if not value or value[0] not in '[{"':
            return None
        try:
            parsed, end = SCAN_JSON(value, 0)
        except (StopIteration, ValueError, RecursionError):
            return None
        if end != len(value) and value[end:].strip(JSON_WHITESPACE):
            return None  # more than whitespace after the value, as ``json.loads`` refuses
        return parsed
    return value


# What ``json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str)`` uses,
# made once: ``json.dumps`` with options builds a new encoder at every call.
_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), default=str)


def _c_encoder() -> Callable[[Any, int], Any] | None:
    """The C encoder ``_ENCODER.encode`` makes at every call, made once. Without the circular
    check (whose memo would be shared between threads): what could loop ends in
    RecursionError instead of ValueError, and parsed JSON and attribute values cannot."""
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None:
        return None
    encoder: Callable[[Any, int], Any] = make(
        None,
        _ENCODER.default,
        json.encoder.encode_basestring,
        None,
        _ENCODER.key_separator,
        _ENCODER.item_separator,
        False,
        False,
        True,
    )
    return encoder


_C_ENCODE = _c_encoder()


def to_json(value: Any) -> str | None:
    """Compact JSON text of a parsed value, or None when it cannot be encoded."""
    try:
        if _C_ENCODE is None:
            return _ENCODER.encode(value)
        return _JOIN(_C_ENCODE(value, 0))
    except (ValueError, TypeError, RecursionError):
        return None


_JOIN = "".join


def first(attributes: Mapping[str, Any], names: Sequence[str]) -> Any:
    """The value of the first of ``names`` present (not None) in ``attributes``."""
    for name in names:
        value = attributes.get(name)
        if value is not None:
            return value
    return None
