"""Fitting a payload its caller knows is in contract order (``encode_payload(ordered=True)``).

Conversion builds payloads in that order, so the exporter says so and fitting skips
the check. The bytes stay the first algorithm's (``reference_fit.py``) with either
encoder, for every limit, including those where the texts are capped at the first
limit, at the last, or steps are dropped; the payload given is never changed.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from infinium_otel.contract import TARGET_PAYLOAD_BYTES
from infinium_otel.delivery.items import Delivery
from infinium_otel.errors import PayloadTooLargeError
from infinium_otel.export.prepare import RunPreparer
from infinium_otel.payload import json_encoder, shrink
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.order import is_ordered, order_payload

from .reference_fit import reference_encode
from .test_encoding_speedups import _hand_made, _limits, _run


def _same_ordered_fit(payload: dict[str, Any], limit: int) -> tuple[bool, int] | None:
    """Assert ``ordered=True`` gives the reference's outcome; (truncated, dropped) or None."""
    try:
        done = reference_encode(payload, max_bytes=limit)
        expected: Any = (done.body, done.truncated, done.dropped_steps)
    except PayloadTooLargeError as exc:
        expected = str(exc)
    try:
        fitted = encode_payload(payload, max_bytes=limit, ordered=True)
        got: Any = (fitted.body, fitted.truncated, fitted.dropped_steps)
    except PayloadTooLargeError as exc:
        got = str(exc)
    assert got == expected, limit
    return None if isinstance(got, str) else (got[1], got[2])


def _fine_limits(payload: dict[str, Any]) -> list[int]:
    """The usual limits, and a sweep just under the whole size where the caps decide."""
    size = len(encode_payload(payload, max_bytes=1 << 40).body)
    sweep = {int(size * (1 - f / 100)) for f in range(1, 40, 3)}
    return sorted(set(_limits(payload)) | sweep)


@pytest.mark.parametrize(
    ("steps", "text", "history"),
    [
        (40, "Where is parcel 42? ", False),
        (70, "Où est le colis 42 ? 包裹 😀 ", True),
        (90, 'escapes " \\ \n \t \x01 ', True),
    ],
)
def test_an_ordered_payload_fits_to_the_reference_bytes(
    encoder: str, steps: int, text: str, history: bool
) -> None:
    payload = convert_run(_run(steps, text, history))
    before = json.dumps(payload)
    outcomes = {_same_ordered_fit(payload, limit) for limit in _fine_limits(payload)}
    assert json.dumps(payload) == before  # the payload given is left as it was
    # Texts capped with every step kept, and steps dropped, were both reached.
    assert (True, 0) in outcomes
    assert any(outcome is not None and outcome[1] > 0 for outcome in outcomes)


def test_capped_tool_summaries_and_renumbered_parents_leave_the_payload_unchanged(
    encoder: str,
) -> None:
    payload = convert_run(_run(90))
    payload["steps"][40]["metadata"]["parent_step"] = 39
    payload["steps"][41]["tool_call"] = {"tool_name": "t", "input_summary": "x" * 400}
    payload["steps"][44]["tool_call"] = {"tool_name": "u", "output_summary": "é" * 150}
    assert is_ordered(payload)  # what ``ordered=True`` claims
    before = json.dumps(payload)
    for limit in _fine_limits(payload):
        _same_ordered_fit(payload, limit)
    assert json.dumps(payload) == before


def test_hand_made_ordered_payloads_fit_to_the_reference_bytes(encoder: str) -> None:
    rng = random.Random(13)
    for _ in range(25):
        payload = order_payload(_hand_made(rng))
        for limit in _fine_limits(payload):
            _same_ordered_fit(payload, limit)


def test_the_exporter_skips_the_order_check_only_for_payloads_straight_from_conversion(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    checked: list[int] = []
    real = shrink.is_ordered

    def counting(payload: Any) -> bool:
        checked.append(1)
        return real(payload)

    monkeypatch.setattr(shrink, "is_ordered", counting)
    run = _run(400, "Where is parcel 42? " * 8)  # over the size limit: fitted
    unhooked = RunPreparer()(run)
    assert isinstance(unhooked, Delivery)
    assert checked == []
    hooked = RunPreparer(hook=lambda payload: payload)(run)  # a hook's payload is checked
    assert isinstance(hooked, Delivery)
    assert checked == [1]
    assert unhooked.body == hooked.body
    assert len(unhooked.body) <= TARGET_PAYLOAD_BYTES
    assert json.loads(unhooked.body)["environment"]["custom_tags"]["truncated"] == "true"


def test_items_encoded_in_chunks_are_each_items_own_bytes(encoder: str) -> None:
    """Over several chunks, with the split mark inside items of some chunks only."""
    items: list[Any] = [
        {"step_number": n, "text": "é \\" * (n % 7), "value": n / 3} for n in range(700)
    ]
    items[3]["notes"] = ["a", json_encoder._ITEM_MARK, "b"]
    items[600]["notes"] = [json_encoder._ITEM_MARK]
    expected = [json_encoder._std_dumps(item) for item in items]
    assert json_encoder._dumps_each(items) == expected
    plain = items[4:600]  # no mark, and nothing orjson writes differently: exact
    assert json_encoder._dumps_each(plain, exact=True) == expected[4:600]
    assert json_encoder._dumps_each(items[:1]) == expected[:1]
    assert json_encoder._dumps_each([]) == []
