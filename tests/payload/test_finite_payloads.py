"""A payload known to be finite (as ``order_payload`` returns it) is encoded without
looking for the ``null`` orjson writes for NaN and infinities: the same bytes.

The exporter encodes conversion's payloads with ``ordered=True``: they hold no NaN
or infinity, so a ``null`` in their bytes is a None, which the standard encoder
writes alike, and one pass over the body is spared. Small floats, where orjson
writes differently, are still looked for; a payload not known to be finite is
still looked over for ``null``.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from infinium_otel.payload import json_encoder
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.first_encoding import FirstEncoding
from infinium_otel.payload.order import order_payload

orjson = pytest.importorskip("orjson")


def std(payload: Any) -> bytes:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":")).encode()


def test_a_finite_body_is_not_searched_for_null_but_still_for_small_floats() -> None:
    assert json_encoder._orjson_doubtful(b'{"a":null}')
    assert not json_encoder._orjson_doubtful(b'{"a":null}', finite=True)
    assert json_encoder._orjson_doubtful(b'{"a":0.00001}', finite=True)
    assert json_encoder._orjson_doubtful(b'{"a":1e-7}', finite=True)
    assert not json_encoder._orjson_doubtful(b'{"a":0.5,"b":"null"}', finite=True)


def test_a_finite_payload_with_none_and_small_floats_gives_the_standard_bytes() -> None:
    payload = {"name": "n", "note": None, "tiny": 4.5e-05, "tinier": 3e-9, "list": [None, 1.5]}
    first = FirstEncoding(payload, finite=True)
    assert first.body() == std(payload)
    assert first.by_orjson is False  # the small floats sent it to the standard encoder
    plain = {"name": "n", "note": None, "list": [None, 1.5, "null"]}
    first = FirstEncoding(plain, finite=True)
    assert first.body() == std(plain)
    assert first.by_orjson is True  # nulls of Nones alone: orjson's bytes kept


def test_a_payload_not_known_finite_still_has_its_nan_cleaned() -> None:
    payload = {"name": "n", "duration": float("nan"), "steps": [{"x": float("inf")}]}
    assert encode_payload(payload).body == b'{"name":"n"}'
    assert encode_payload(payload).body == std(order_payload(payload))


def _value(rng: random.Random, depth: int) -> Any:
    pick = rng.randrange(9 if depth < 3 else 6)
    if pick == 0:
        return None
    if pick == 1:
        return rng.random() * 10.0 ** rng.randrange(-12, 6)
    if pick == 2:
        return rng.randrange(-(10**6), 10**6)
    if pick == 3:
        return rng.choice(["null", "0.00001", "1e-7", "text", "é", ""])
    if pick == 4:
        return rng.choice([True, False])
    if pick == 5:
        return -rng.random() * 10.0 ** rng.randrange(-12, 6)
    if pick == 6:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    return {f"k{i}": _value(rng, depth + 1) for i in range(rng.randrange(4))}


def test_generated_finite_payloads_encode_to_the_standard_bytes() -> None:
    rng = random.Random(7)
    for _ in range(3_000):
        payload = {"name": "run", "data": _value(rng, 0), "more": _value(rng, 0)}
        assert FirstEncoding(payload, finite=True).body() == std(payload), payload
        cleaned = order_payload(payload)
        assert encode_payload(cleaned, ordered=True).body == std(cleaned), cleaned


def test_payloads_encode_without_the_circular_check_to_the_same_bytes() -> None:
    rng = random.Random(11)
    for _ in range(1_000):
        payload = order_payload({"name": "run", "data": _value(rng, 0), "more": _value(rng, 0)})
        assert json_encoder._std_dumps(payload) == std(payload)
    assert json_encoder._PAYLOAD_ENCODER.check_circular is False


def test_a_payload_that_loops_is_still_cleaned_and_a_callers_loop_still_named() -> None:
    from infinium_otel.errors import ValidationError

    looping: dict[str, Any] = {"name": "loop", "steps": []}
    looping["steps"].append({"action": "x", "metadata": looping})
    body = encode_payload(looping).body
    assert json.loads(body)["name"] == "loop"
    with pytest.raises(RecursionError):
        json_encoder._std_dumps(looping)
    with pytest.raises(ValidationError, match="Circular reference"):
        json_encoder.encode_json(looping)
