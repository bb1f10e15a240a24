"""The first look for orjson's small floats (``b"0.0000" in body``) before the regex.

``_orjson_doubtful`` asks CPython's substring search whether the body holds
``0.0000`` at all before running the regex that finds where: the same answer,
fewer instructions. These tests compare it with the regex-only check it
replaces, over generated bodies and floats, and the bytes ``_dumps`` gives with
the standard library's ``json.dumps`` (small, subnormal, huge, -0.0, whole
floats).
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from infinium_otel.payload import json_encoder

orjson = pytest.importorskip("orjson")

_NULL = re.compile(rb"null")
_SMALL_FLOAT = re.compile(rb"0\.0000")
_SHORT_EXPONENT = re.compile(rb"e-\d")


def reference_doubtful(body: bytes, finite: bool = False) -> bool:
    """The check as it was: every pattern searched by its regex alone."""
    end = len(body)
    for match in () if finite else _NULL.finditer(body):
        start, stop = match.span()
        if (start == 0 or body[start - 1] in b":,[") and (stop == end or body[stop] in b",}]"):
            return True
    for match in _SMALL_FLOAT.finditer(body):
        start = match.start()
        if start > 0 and body[start - 1] == 0x2D:
            start -= 1
        if start == 0 or body[start - 1] in b":,[":
            return True
    for match in _SHORT_EXPONENT.finditer(body):
        start, stop = match.span()
        if (
            start > 0
            and body[start - 1] in b"0123456789"
            and (stop == end or body[stop] not in b"0123456789")
        ):
            return True
    return False


def std(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode()


# Floats across the whole range, with the doubtful decades (1e-10 to 1e-4) drawn often.
_DECADE_FLOATS = st.builds(
    lambda mantissa, exponent, negative: (-1.0 if negative else 1.0) * mantissa * 10.0**exponent,
    st.floats(min_value=1.0, max_value=9.999999),
    st.integers(min_value=-12, max_value=-2),
    st.booleans(),
)
_FLOATS = st.one_of(
    _DECADE_FLOATS,
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(allow_nan=False, allow_infinity=False, allow_subnormal=True, max_value=1e-300),
    st.integers(min_value=-(2**60), max_value=2**60).map(float),
    st.sampled_from([0.0, -0.0, 5e-324, -5e-324, 1.7976931348623157e308, 1e16, 1e-5, 1e-4]),
)
# Texts that hold the literals the check looks for, inside strings.
_TEXTS = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["0.00001", "x0.0000", "1e-7", "e-5", ":0.0000", "null", "-0.00005"]),
)
_VALUES = st.recursive(
    st.one_of(_FLOATS, _TEXTS, st.integers(-(2**63), 2**64 - 1), st.none(), st.booleans()),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(st.text(max_size=4), children, max_size=4)
    ),
    max_leaves=12,
)


@settings(max_examples=600, deadline=None)
@given(_VALUES)
def test_the_first_look_answers_as_the_regex_alone(value: Any) -> None:
    body = orjson.dumps(value)
    for finite in (False, True):
        assert json_encoder._orjson_doubtful(body, finite) == reference_doubtful(body, finite)


@settings(max_examples=600, deadline=None)
@given(_VALUES)
def test_payloads_with_any_floats_encode_to_the_standard_bytes(value: Any) -> None:
    assert json_encoder._dumps(value) == std(value)
    assert json_encoder._dumps_telling({"v": value}, finite=True)[0] == std({"v": value})


@settings(max_examples=400, deadline=None)
@given(_FLOATS)
def test_every_float_alone_and_in_a_payload_encodes_to_the_standard_bytes(number: float) -> None:
    for value in (number, [number], {"duration": number, "name": "run"}, [-number, "0.0000"]):
        assert json_encoder._dumps(value) == std(value)


@pytest.mark.parametrize(
    "body",
    [
        b'{"a":0.00001}',
        b"[0.00005]",
        b'{"a":-0.000099}',
        b"0.00002",
        b'{"a":1,"b":0.00001}',
    ],
)
def test_small_floats_are_still_doubtful(body: bytes) -> None:
    assert json_encoder._orjson_doubtful(body, finite=True)
    assert reference_doubtful(body, finite=True)


def test_bodies_without_the_literal_are_not_doubtful() -> None:
    for body in (b'{"a":0.0001}', b'{"a":"0.00001"}', b'{"t":0.2,"d":0.003214}', b"[]"):
        assert not json_encoder._orjson_doubtful(body, finite=True)
