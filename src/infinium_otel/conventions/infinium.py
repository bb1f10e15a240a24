"""Our own ``infinium.*`` attributes: what no convention carries (task, expected outcome, sections).

Sections and their fields are exactly those of the platform SDK's section
dataclasses; an attribute naming an unknown section or field is ignored, so a
typo never produces a payload the platform would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from infinium_otel._text import cap
from infinium_otel.contract import SECTION_FIELDS, FieldType, is_iso_datetime
from infinium_otel.conventions import names
from infinium_otel.conventions.values import integer, number, string_list, text

DESCRIPTION = names.INFINIUM_DESCRIPTION
INPUT_SUMMARY = names.INFINIUM_INPUT_SUMMARY
OUTPUT_SUMMARY = names.INFINIUM_OUTPUT_SUMMARY
TASK_OBJECTIVE = names.INFINIUM_TASK_OBJECTIVE
_OUTCOME_LISTS = ("required_deliverables", "constraints", "acceptance_criteria")
SECTION_PREFIX = names.INFINIUM_SECTION_PREFIX

Reader = Callable[[Any], Any]

# The platform SDK's section text caps values to 2,000 characters.
SECTION_TEXT_MAX = 2_000


def _text(value: Any) -> str | None:
    result = text(value)
    return cap(result, SECTION_TEXT_MAX) if result is not None else None


def _boolean(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    return None


def _text_list(value: Any) -> list[str] | None:
    items = string_list(value)
    return [t for t in (_text(i) for i in items) if t] if items else None


def _text_or_list(value: Any) -> str | list[str] | None:
    if isinstance(value, (list, tuple)):
        return _text_list(value)
    return _text(value)


_READERS: dict[FieldType, Reader] = {
    "text": _text,
    "bool": _boolean,
    "int": integer,
    "float": number,
    "text_list": _text_list,
    "text_or_list": _text_or_list,
    "datetime": lambda value: value if is_iso_datetime(value) else None,
    "text_or_object": _text,
}

# section -> field -> reader, in the SDK dataclasses' field order. Structured
# fields (a list of errors) cannot come from a span attribute and are left out.
SECTIONS: dict[str, dict[str, Reader]] = {
    section: {name: _READERS[kind] for name, kind in fields.items() if kind in _READERS}
    for section, fields in SECTION_FIELDS.items()
}


def expected_outcome(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The expected outcome; None without a task objective (the platform requires one)."""
    objective = _text(attributes.get(TASK_OBJECTIVE))
    if not objective:
        return None
    outcome: dict[str, Any] = {"task_objective": objective}
    for field in _OUTCOME_LISTS:
        items = _text_list(attributes.get(names.INFINIUM_EXPECTED_OUTCOME_PREFIX + field))
        if items:
            outcome[field] = items
    return outcome


def sections(attributes: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """Known ``infinium.section.<section>.<field>`` values, typed as the SDK types them."""
    found: dict[str, dict[str, Any]] = {}
    start = len(SECTION_PREFIX)
    for key, value in attributes.items():
        if not key.startswith(SECTION_PREFIX):
            continue
        section, _, field = key[start:].partition(".")
        reader = SECTIONS.get(section, {}).get(field)
        if reader is None:
            continue
        typed = reader(value)
        if typed is not None:
            found.setdefault(section, {})[field] = typed
    return {
        name: {f: fields[f] for f in SECTIONS[name] if f in fields}
        for name, fields in found.items()
    }
