"""The wire contract's numbers and section fields, in one place.

The payload builder and the sandbox's validator both read these, so what we
produce and what we check against cannot drift apart. Section fields are those
of the platform SDK's section dataclasses, in their order, with the type each
field takes.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Literal

__all__ = [
    "DESCRIPTION_MAX",
    "INPUT_SUMMARY_MAX",
    "MAX_DURATION_SECONDS",
    "MAX_PAYLOAD_BYTES",
    "NAME_MAX",
    "OUTPUT_SUMMARY_MAX",
    "SECTION_FIELDS",
    "STACK_TRACE_MAX",
    "STEP_INPUT_PREVIEW_MAX",
    "STEP_OUTPUT_PREVIEW_MAX",
    "TARGET_PAYLOAD_BYTES",
    "TOOL_INPUT_SUMMARY_MAX",
    "TOOL_OUTPUT_SUMMARY_MAX",
    "FieldType",
    "is_iso_datetime",
]

MAX_PAYLOAD_BYTES = 1_048_576
# What we aim for, leaving headroom under the limit (as the platform's connectors do).
TARGET_PAYLOAD_BYTES = 950_000
MAX_DURATION_SECONDS = 86_400

# Text caps (characters) matching what Maestro reads.
NAME_MAX = 500
DESCRIPTION_MAX = 10_000
INPUT_SUMMARY_MAX = 3_000
OUTPUT_SUMMARY_MAX = 8_000
STEP_INPUT_PREVIEW_MAX = 500
STEP_OUTPUT_PREVIEW_MAX = 1_500
TOOL_INPUT_SUMMARY_MAX = 300
TOOL_OUTPUT_SUMMARY_MAX = 1_500
STACK_TRACE_MAX = 1_000

_ISO_DATETIME_RE = re.compile(
    r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?(?:Z|[+-]\d{2}:?\d{2})?$"
)


def is_iso_datetime(value: object) -> bool:
    """True for an ISO 8601 date and time that names a real instant (section timestamps)."""
    if not isinstance(value, str) or _ISO_DATETIME_RE.match(value) is None:
        return False
    normalised = value.replace(" ", "T", 1)
    if normalised.endswith("Z"):
        normalised = normalised[:-1] + "+00:00"
    if "." in normalised:  # Python 3.10 parses at most six fraction digits
        head, _, rest = normalised.partition(".")
        digits = len(rest) - len(rest.lstrip("0123456789"))
        normalised = f"{head}.{rest[:digits][:6].ljust(6, '0')}{rest[digits:]}"
    if len(normalised) > 5 and normalised[-5] in "+-" and normalised[-3] != ":":
        normalised = normalised[:-2] + ":" + normalised[-2:]  # +0100 -> +01:00
    try:
        datetime.fromisoformat(normalised)
    except ValueError:
        return False
    return True


FieldType = Literal[
    "text",  # a string
    "bool",
    "int",  # a whole number >= 0
    "float",
    "text_list",  # a list of strings
    "text_or_list",  # a string, or a list of strings
    "datetime",  # an ISO 8601 date-time string
    "text_or_object",  # a string, or a JSON object
    "errors",  # a list of ErrorDetail objects
]

_T: FieldType = "text"

SECTION_FIELDS: dict[str, dict[str, FieldType]] = {
    "time_tracking": {"start_time": "datetime", "end_time": "datetime"},
    "customer": {
        "customer_name": _T,
        "customer_email": _T,
        "customer_phone": _T,
        "customer_address": _T,
        "client_company": _T,
        "client_industry": _T,
    },
    "support": {
        "call_id": _T,
        "issue_description": _T,
        "issue_type": _T,
        "resolution": _T,
        "priority": _T,
        "follow_up_required": "bool",
        "agent_notes": _T,
    },
    "sales": {
        "lead_source": _T,
        "sales_stage": _T,
        "deal_value": "float",
        "conversion_rate": "float",
        "sales_notes": _T,
    },
    "marketing": {
        "campaign_name": _T,
        "campaign_type": _T,
        "target_audience": _T,
        "marketing_channel": _T,
        "engagement_metrics": _T,
        "conversion_metrics": _T,
    },
    "content": {
        "content_type": _T,
        "content_format": _T,
        "content_length": "int",
        "content_topic": _T,
        "target_platform": _T,
    },
    "research": {
        "research_topic": _T,
        "research_method": _T,
        "data_sources": "text_or_list",
        "research_findings": _T,
        "analysis_type": _T,
        "sources_consulted": "int",
        "key_findings": "text_list",
        "confidence_level": _T,
        "data_quality": _T,
    },
    "project": {
        "project_name": _T,
        "project_phase": _T,
        "deliverables": "text_or_list",
        "stakeholders": "text_or_list",
        "project_status": _T,
        "milestone_achieved": _T,
        "task_priority": _T,
        "resource_utilization": "float",
        "risk_assessment": _T,
        "blockers": "text_list",
    },
    "development": {
        "programming_language": _T,
        "framework_used": _T,
        "bugs_found": "int",
        "bugs_fixed": "int",
        "test_coverage": "float",
        "performance_metrics": "text_or_object",
        "deployment_status": _T,
        "technical_debt": _T,
        "files_modified": "text_list",
        "tests_run": "int",
        "tests_passed": "int",
    },
    "executive": {
        "meeting_type": _T,
        "attendees_count": "int",
        "agenda_items": "text_or_list",
        "action_items": "text_or_list",
        "calendar_conflicts": "int",
        "decisions_made": "text_list",
    },
    "general": {
        "tools_used": "text_or_list",
        "agent_notes": _T,
        "errors_encountered": "errors",
        "retries": "int",
        "warnings": "text_list",
        "external_apis_called": "text_list",
        "data_sources_accessed": "text_list",
        "tags": "text_list",
    },
}
