"""The shared contract table matches the platform SDK, and values outside it are dropped."""

from __future__ import annotations

import dataclasses

import infinium.types as sdk
import pytest

from infinium_otel.contract import SECTION_FIELDS
from infinium_otel.payload.convert import convert_run

from .builder import Trace
from .checks import check_payload

SDK_SECTIONS = {
    "time_tracking": sdk.TimeTracking,
    "customer": sdk.Customer,
    "support": sdk.Support,
    "sales": sdk.Sales,
    "marketing": sdk.Marketing,
    "content": sdk.Content,
    "research": sdk.Research,
    "project": sdk.Project,
    "development": sdk.Development,
    "executive": sdk.Executive,
    "general": sdk.General,
}


def test_section_fields_are_the_sdk_dataclass_fields_in_order() -> None:
    assert list(SECTION_FIELDS) == list(SDK_SECTIONS)
    for name, cls in SDK_SECTIONS.items():
        assert list(SECTION_FIELDS[name]) == [f.name for f in dataclasses.fields(cls)], name


@pytest.mark.parametrize(("status", "kept"), [(0, None), (99, None), (600, None), (404, 404)])
def test_tool_http_status_outside_the_contract_range_is_dropped(
    status: int, kept: int | None
) -> None:
    trace = Trace()
    root = trace.start("invoke_agent a", {"gen_ai.operation.name": "invoke_agent"})
    trace.span(
        "execute_tool fetch",
        {
            "gen_ai.operation.name": "execute_tool",
            "gen_ai.tool.name": "fetch",
            "http.response.status_code": status,
        },
        parent=root,
        until=5,
    )
    root.end()
    payload = check_payload(convert_run(trace.run(root)))
    assert payload["steps"][0]["tool_call"].get("http_status") == kept
