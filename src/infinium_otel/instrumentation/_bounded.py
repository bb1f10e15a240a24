"""JSON of any value, written only as far as a character limit.

Recording a huge argument (a list of a million items) or a long chat history
must cost what is kept, not what was given: ``json.dumps`` of the whole value
followed by a cut would build every character first. The writer here stops as
soon as it has more than the limit, so the work and memory are bounded by the
limit (plus one container's worth of bookkeeping per level).

For plain JSON data the text is exactly ``json.dumps(value, ensure_ascii=False)``;
SDK objects are read as ``to_jsonable`` reads them (pydantic models through
``model_dump``, enums by value, bytes as ``<n bytes>``, anything else as
``str``). Sets and deques are written as arrays. Nesting deeper than
``MAX_DEPTH`` (a value that contains itself) is written as ``"<type>"``.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Mapping
from typing import Any

from infinium_otel._text import cap

__all__ = ["MAX_DEPTH", "bounded_json", "json_within"]

MAX_DEPTH = 32
_ARRAYS = (list, tuple, set, frozenset, deque)


class _Full(Exception):
    """Raised inside the writer once it holds more than its limit."""


class _Writer:
    __slots__ = ("limit", "pieces", "size")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.pieces: list[str] = []
        self.size = 0

    def write(self, piece: str) -> None:
        self.pieces.append(piece)
        self.size += len(piece)
        if self.size > self.limit:
            raise _Full

    def string(self, text: str) -> None:
        # Escaping never shortens text, so a prefix one longer than what is left
        # is enough to pass the limit.
        room = self.limit - self.size + 1
        if len(text) > room:
            text = text[:room]
        self.write(json.dumps(text, ensure_ascii=False))

    def value(self, value: Any, depth: int) -> None:
        if value is None:
            self.write("null")
        elif value is True:
            self.write("true")
        elif value is False:
            self.write("false")
        elif isinstance(value, str):
            self.string(value)
        elif isinstance(value, (int, float)):
            self.write(json.dumps(value))
        elif depth >= MAX_DEPTH:
            self.string(f"<{type(value).__name__}>")
        elif isinstance(value, Mapping):
            self.mapping(value, depth + 1)
        elif isinstance(value, _ARRAYS):
            self.array(value, depth + 1)
        elif isinstance(value, (bytes, bytearray)):
            self.string(f"<{len(value)} bytes>")
        else:
            self.other(value, depth)

    def mapping(self, value: Mapping[Any, Any], depth: int) -> None:
        self.write("{")
        first = True
        for key, item in value.items():
            if not first:
                self.write(", ")
            first = False
            self.string(str(key))
            self.write(": ")
            self.value(item, depth)
        self.write("}")

    def array(self, value: Any, depth: int) -> None:
        self.write("[")
        first = True
        for item in value:
            if not first:
                self.write(", ")
            first = False
            self.value(item, depth)
        self.write("]")

    def other(self, value: Any, depth: int) -> None:
        dump = getattr(value, "model_dump", None)
        if callable(dump):
            try:
                dumped = dump(exclude_none=True)
            except Exception:
                pass
            else:
                self.value(dumped, depth + 1)
                return
        enum_value = getattr(value, "value", None)
        if isinstance(enum_value, (str, int)) and not isinstance(enum_value, bool):
            self.value(enum_value, depth)
            return
        self.string(str(value))


def json_within(value: Any, limit: int) -> tuple[str, bool]:
    """(JSON text, complete): the whole text when it fits in ``limit``, else a prefix longer
    than ``limit`` and False."""
    writer = _Writer(limit)
    try:
        writer.value(value, 0)
    except _Full:
        return "".join(writer.pieces), False
    return "".join(writer.pieces), True


def bounded_json(value: Any, limit: int) -> str:
    """JSON text of ``value``, cut by ``cap`` to ``limit`` characters when longer."""
    text, _ = json_within(value, limit)
    return cap(text, limit)
