"""The changes fitting makes to one step: cap or drop its texts, number it earlier.

Steps are the fitter's shallow copies of the payload's; an object inside one is
copied (``_owned``) only where it is about to change, so the payload given is
left be. Each change returns what it did to the step's encoded length when that
can be told without encoding it again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from infinium_otel._text import cap
from infinium_otel.payload.fit_lengths import _cut_saving, _member, _number_length

# What an object emptied by shrinking took in a step's body before it went.
_EMPTY_METADATA = b',"metadata":{}'
_EMPTY_TOOL_CALL = b',"tool_call":{}'


def _previews(steps: Sequence[Mapping[str, Any]], limit: int) -> list[str]:
    """The step texts longer than ``limit`` (what capping at ``limit`` cuts)."""
    found = []
    for step in steps:
        for key in ("input_preview", "output_preview"):
            value = step.get(key)
            if isinstance(value, str) and len(value) > limit:
                found.append(value)
        tool_call = step.get("tool_call")
        if isinstance(tool_call, dict):
            for key in ("input_summary", "output_summary"):
                value = tool_call.get(key)
                if isinstance(value, str) and len(value) > limit:
                    found.append(value)
    return found


def _owned(step: dict[str, Any], key: str) -> dict[str, Any]:
    """A copy of the object ``step[key]``, put in its place, for shrinking to change.

    Steps are copied one level deep; an object inside one is copied only here,
    where it is about to change, so the input payload is left be.
    """
    owned = dict(step[key])
    step[key] = owned
    return owned


def _renumber_step(step: dict[str, Any], count: int, *, measure: bool = True) -> int | None:
    """Number ``step`` ``count`` places earlier; the change in its length, None if unknown.

    Without ``measure`` (the step is encoded again): 0, or None when it lost its metadata.
    """
    change = 0
    number = step.get("step_number")
    if isinstance(number, int):
        renumbered = number - count
        if measure:
            change += _number_length(renumbered) - _number_length(number)
        step["step_number"] = renumbered
    metadata = step.get("metadata")
    if isinstance(metadata, dict) and "parent_step" in metadata:
        metadata = _owned(step, "metadata")
        parent = metadata["parent_step"]
        if isinstance(parent, int) and parent > count:
            metadata["parent_step"] = parent - count
            if measure:
                change += _number_length(parent - count) - _number_length(parent)
        else:
            del metadata["parent_step"]
            if not metadata:
                del step["metadata"]  # cleaning drops an empty object
                return None
            change -= len(_member("parent_step", parent)) + 1
    return change


def _cap_previews(step: dict[str, Any], limit: int, *, measure: bool = True) -> int:
    """Cap the step's previews at ``limit`` characters; the bytes that saves.

    Without ``measure``: some positive number when anything was capped, else 0.
    """
    saved = 0
    for key in ("input_preview", "output_preview"):
        value = step.get(key)
        if isinstance(value, str) and len(value) > limit:
            capped = cap(value, limit)
            saved += _cut_saving(value, capped) if measure else 1
            step[key] = capped
    tool_call = step.get("tool_call")
    if isinstance(tool_call, dict):
        owned = None
        for key in ("input_summary", "output_summary"):
            value = tool_call.get(key)
            if isinstance(value, str) and len(value) > limit:
                capped = cap(value, limit)
                saved += _cut_saving(value, capped) if measure else 1
                owned = owned or _owned(step, "tool_call")
                owned[key] = capped
    return saved


def _drop_previews(step: dict[str, Any]) -> tuple[bool, bool]:
    """Remove the step's previews: (whether that changed it, whether it emptied the tool call)."""
    changed = step.pop("input_preview", None) is not None
    changed = step.pop("output_preview", None) is not None or changed
    tool_call = step.get("tool_call")
    if isinstance(tool_call, dict):
        if "input_summary" in tool_call or "output_summary" in tool_call:
            tool_call = _owned(step, "tool_call")
        changed = tool_call.pop("input_summary", None) is not None or changed
        changed = tool_call.pop("output_summary", None) is not None or changed
        if not tool_call:
            del step["tool_call"]  # cleaning drops an empty object
            return changed, True
    return changed, False
