"""Our own ``infinium.*`` attributes: what no convention carries (task, expected outcome, sections).

Sections and their fields are exactly those of the platform SDK's section
dataclasses; an attribute naming an unknown section or field is ignored, so a
typo never produces a payload the platform would refuse.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .values import integer, number, string_list, text

DESCRIPTION = "infinium.description"
INPUT_SUMMARY = "infinium.input_summary"
OUTPUT_SUMMARY = "infinium.output_summary"
TASK_OBJECTIVE = "infinium.expected_outcome.task_objective"
_OUTCOME_LISTS = ("required_deliverables", "constraints", "acceptance_criteria")
SECTION_PREFIX = "infinium.section."

Reader = Callable[[Any], Any]

# The platform SDK's section text caps values to 2,000 characters.
SECTION_TEXT_MAX = 2_000


def _text(value: Any) -> str | None:
    result = text(value)
    if result is not None and len(result) > SECTION_TEXT_MAX:
        return result[: SECTION_TEXT_MAX - 3] + "..."
    return result


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


_S, _B, _I, _F, _L, _SL = _text, _boolean, integer, number, _text_list, _text_or_list

# section -> field -> reader, in the SDK dataclasses' field order.
SECTIONS: dict[str, dict[str, Reader]] = {
    "time_tracking": {"start_time": _S, "end_time": _S},
    "customer": {
        "customer_name": _S,
        "customer_email": _S,
        "customer_phone": _S,
        "customer_address": _S,
        "client_company": _S,
        "client_industry": _S,
    },
    "support": {
        "call_id": _S,
        "issue_description": _S,
        "issue_type": _S,
        "resolution": _S,
        "priority": _S,
        "follow_up_required": _B,
        "agent_notes": _S,
    },
    "sales": {
        "lead_source": _S,
        "sales_stage": _S,
        "deal_value": _F,
        "conversion_rate": _F,
        "sales_notes": _S,
    },
    "marketing": {
        "campaign_name": _S,
        "campaign_type": _S,
        "target_audience": _S,
        "marketing_channel": _S,
        "engagement_metrics": _S,
        "conversion_metrics": _S,
    },
    "content": {
        "content_type": _S,
        "content_format": _S,
        "content_length": _I,
        "content_topic": _S,
        "target_platform": _S,
    },
    "research": {
        "research_topic": _S,
        "research_method": _S,
        "data_sources": _SL,
        "research_findings": _S,
        "analysis_type": _S,
        "sources_consulted": _I,
        "key_findings": _L,
        "confidence_level": _S,
        "data_quality": _S,
    },
    "project": {
        "project_name": _S,
        "project_phase": _S,
        "deliverables": _SL,
        "stakeholders": _SL,
        "project_status": _S,
        "milestone_achieved": _S,
        "task_priority": _S,
        "resource_utilization": _F,
        "risk_assessment": _S,
        "blockers": _L,
    },
    "development": {
        "programming_language": _S,
        "framework_used": _S,
        "bugs_found": _I,
        "bugs_fixed": _I,
        "test_coverage": _F,
        "performance_metrics": _S,
        "deployment_status": _S,
        "technical_debt": _S,
        "files_modified": _L,
        "tests_run": _I,
        "tests_passed": _I,
    },
    "executive": {
        "meeting_type": _S,
        "attendees_count": _I,
        "agenda_items": _SL,
        "action_items": _SL,
        "calendar_conflicts": _I,
        "decisions_made": _L,
    },
    "general": {
        "tools_used": _SL,
        "agent_notes": _S,
        "retries": _I,
        "warnings": _L,
        "external_apis_called": _L,
        "data_sources_accessed": _L,
        "tags": _L,
    },
}


def expected_outcome(attributes: Mapping[str, Any]) -> dict[str, Any] | None:
    """The expected outcome; None without a task objective (the platform requires one)."""
    objective = _text(attributes.get(TASK_OBJECTIVE))
    if not objective:
        return None
    outcome: dict[str, Any] = {"task_objective": objective}
    for field in _OUTCOME_LISTS:
        items = _text_list(attributes.get(f"infinium.expected_outcome.{field}"))
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
