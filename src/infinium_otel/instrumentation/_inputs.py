"""Call arguments the instrumentors read, made safe to read: one-shot iterables become lists.

A generator given as ``messages=`` can be iterated once. Recording the history
would use it up and the provider would receive nothing, so it is turned into a
list once and that list is both recorded and passed on to the SDK.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

__all__ = ["materialised"]

_PASSED_AS_IS = (list, tuple, str, bytes, bytearray, Mapping)


def _one_shot(value: Any) -> bool:
    """Whether reading ``value`` could take items away from the SDK."""
    if value is None or isinstance(value, _PASSED_AS_IS):
        return False
    if hasattr(value, "model_dump"):  # an SDK object is read by field, not iterated
        return False
    return isinstance(value, Iterable)


def _replay(items: list[Any], error: Exception) -> Iterator[Any]:
    """The items read before ``error``, then ``error`` again: what the SDK would have met."""
    yield from items
    raise error


def materialised(kwargs: dict[str, Any], keys: tuple[str, ...]) -> tuple[dict[str, Any], bool]:
    """``kwargs`` with each one-shot iterable under ``keys`` as a list; and whether all were read.

    Lists and tuples pass through as they are (the same objects). When the
    caller's iterable raises, the SDK gets a replay of what was read followed by
    the same exception, and ``False`` says there is nothing complete to record.
    """
    changed: dict[str, Any] | None = None
    complete = True
    for key in keys:
        value: Any = kwargs.get(key)
        if not _one_shot(value):
            continue
        items: list[Any] = []
        replacement: Any = items
        try:
            for item in value:
                items.append(item)
        except Exception as exc:
            replacement = _replay(items, exc)
            complete = False
        if changed is None:
            changed = dict(kwargs)
        changed[key] = replacement
    return (kwargs if changed is None else changed), complete
