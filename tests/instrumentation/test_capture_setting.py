"""Which setting decides content capture."""

from __future__ import annotations

import pytest

from infinium_otel.instrumentation._common import resolve_capture_content

OTEL = "OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT"
OURS = "INFINIUM_CAPTURE_CONTENT"


@pytest.mark.parametrize(
    ("explicit", "environ", "expected"),
    [
        (None, {}, True),
        (None, {OURS: "false"}, False),
        (None, {OURS: "true", OTEL: "false"}, True),
        (None, {OTEL: "NO_CONTENT"}, False),
        (None, {OTEL: "false"}, False),
        (None, {OTEL: "SPAN_ONLY"}, True),
        (None, {OTEL: "span_and_event"}, True),
        (None, {OURS: "maybe", OTEL: "false"}, False),
        (True, {OURS: "false", OTEL: "false"}, True),
        (False, {}, False),
    ],
)
def test_precedence(explicit: bool | None, environ: dict[str, str], expected: bool) -> None:
    assert resolve_capture_content(explicit, environ) is expected
