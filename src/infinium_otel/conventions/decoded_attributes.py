"""The attributes of a span decoded from OTLP, held as the SDK holds an ended span's.

The gateway makes the SDK's ``ReadableSpan`` from each decoded span; conversion's
fast reader (``common.read_common``) takes spans whose attributes are held this
way as it takes the SDK's own, so it lives here, below both.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

__all__ = ["AttributeValue", "SpanAttributes"]

AttributeValue = str | bool | int | float | tuple[str, ...] | tuple[bool, ...] | tuple[int, ...]


class SpanAttributes(Mapping[str, AttributeValue]):
    """A decoded span's attributes, held as the SDK holds an ended span's: the plain
    dict as ``_dict``. Readers that look there (``span_attributes``, the exporter's
    assembly and conversion) read it as it is; given a bare dict they would copy it
    for every span, twice."""

    __slots__ = ("_dict",)

    def __init__(self, values: dict[str, AttributeValue]) -> None:
        self._dict = values

    def __getitem__(self, key: str) -> AttributeValue:
        return self._dict[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict)

    def __len__(self) -> int:
        return len(self._dict)

    def __repr__(self) -> str:
        return repr(self._dict)
