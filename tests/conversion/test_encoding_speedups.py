"""Faster encoding keeps the bytes: the orjson path and fitting from encoded parts.

orjson is optional (the ``fast`` extra): its tests skip when it is not installed.
Fitting is checked against the first, whole-payload algorithm kept in
``reference_fit.py``, on converted runs and on hand-made payloads with text that
needs escaping, non-ASCII, surrogates, unordered keys and empty values.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from infinium_otel.errors import PayloadTooLargeError
from infinium_otel.payload import json_encoder
from infinium_otel.payload.convert import convert_run
from infinium_otel.payload.encode import encode_payload
from infinium_otel.payload.order import order_payload

from .builder import BASE_NS, MS, Trace
from .reference_fit import reference_encode

_TEXTS = [
    "plain text",
    "é à ü 中文 😀",
    'quote " backslash \\ newline \n tab \t',
    "\x00\x01\x1f\x7f control",
    "\u2028\u2029 separators",
    "lone \ud800 surrogate",
    "split pair \ud83d\ude00",
    "",
    "null",
    ':null,"x":0.00001',
]
_FLOATS = [
    0.0,
    -0.0,
    0.1,
    1.5,
    1e-4,
    1e-5,
    -3.2e-5,
    9.99e-5,
    1e15,
    1e16,
    1.2345678901234568e17,
    1e300,
    5e-324,
    2.2250738585072014e-308,
    123456.789,
]
_INTS = [
    0,
    -1,
    7,
    2**31,
    2**53 + 1,
    2**63 - 1,
    2**63,
    2**64 - 1,
    2**64,
    -(2**63),
    -(2**63) - 1,
    10**30,
]


def _value(rng: random.Random, depth: int) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    if kind == 0:
        return rng.choice(_TEXTS) + str(rng.random())
    if kind == 1:
        return rng.choice(_FLOATS) * rng.choice([1, -1])
    if kind == 2:
        return rng.random() * 10.0 ** rng.randrange(-8, 20)
    if kind == 3:
        return rng.choice(_INTS)
    if kind == 4:
        return rng.choice([True, False, None])
    if kind == 5:
        return [_value(rng, depth + 1) for _ in range(rng.randrange(4))]
    if kind == 6:
        return tuple(_value(rng, depth + 1) for _ in range(rng.randrange(3)))
    return {rng.choice(_TEXTS) + str(i): _value(rng, depth + 1) for i in range(rng.randrange(4))}


def _values(count: int) -> list[Any]:
    rng = random.Random(12)
    return [_value(rng, 0) for _ in range(count)]


# ------------------------------------------------------------------ orjson


def test_orjson_bytes_are_the_standard_encoders_bytes() -> None:
    pytest.importorskip("orjson")
    assert json_encoder.ENCODER == "orjson"
    values = _values(3000)
    values += [float(x) * 10.0**e for x in range(1, 10) for e in range(-323, 300)]
    rng = random.Random(3)
    values += [rng.random() * 10.0 ** rng.randrange(-320, 300) for _ in range(20_000)]
    values += [{"k": v} for v in _FLOATS + _INTS + _TEXTS]
    values += [{1: "int key"}, {"n": float("nan")}, {"i": float("inf")}, [float("-inf")]]
    for value in values:
        try:
            expected: bytes | type[Exception] = json_encoder._std_dumps(value)
        except (TypeError, ValueError) as exc:
            expected = type(exc)
        try:
            got: bytes | type[Exception] = json_encoder._dumps(value)
        except (TypeError, ValueError) as exc:
            got = type(exc)
        assert got == expected, value


def test_orjson_answers_for_a_converted_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("orjson")
    payload = convert_run(_run(steps=6))
    expected = json_encoder._std_dumps(payload)

    def refuse(value: Any) -> bytes:
        raise AssertionError("the standard encoder ran")

    monkeypatch.setattr(json_encoder, "_std_dumps", refuse)
    assert encode_payload(payload).body == expected


def test_orjson_path_falls_back_for_what_orjson_writes_differently() -> None:
    pytest.importorskip("orjson")
    # NaN: orjson writes null, the standard path drops the member after cleaning.
    assert encode_payload({"name": "n", "duration": float("nan")}).body == b'{"name":"n"}'
    assert json_encoder._dumps({"t": 1e-5}) == b'{"t":1e-05}'
    assert json_encoder._dumps([2.5e-8]) == b"[2.5e-08]"
    assert json_encoder._dumps(3e-9) == b"3e-09"
    assert json_encoder._dumps({"big": 2**70}) == b'{"big":1180591620717411303424}'
    assert json_encoder._dumps({"s": "a\ud800b"}) == '{"s":"a\ufffdb"}'.encode()


def test_the_strict_encoder_still_refuses_what_json_cannot_say() -> None:
    import uuid

    from infinium_otel.errors import ValidationError

    with pytest.raises(ValidationError):
        json_encoder.encode_json({"id": uuid.uuid4()})
    with pytest.raises(ValidationError):
        json_encoder.encode_json({"n": float("nan")})


# ------------------------------------------------------------------ fitting


def _run(steps: int, text: str = "Where is parcel 42? ", history: bool = False) -> Any:
    trace = Trace()
    root = trace.start(
        "invoke_agent support",
        {"gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": "support"},
    )
    for index in range(steps):
        at = index * 10
        if index % 3 == 2:
            trace.span(
                "execute_tool track",
                {
                    "gen_ai.operation.name": "execute_tool",
                    "gen_ai.tool.name": "track",
                    "gen_ai.tool.call.arguments": json.dumps({"q": text * 3}),
                    "gen_ai.tool.call.result": json.dumps({"r": text * 40}),
                },
                parent=root,
                at=at,
                until=at + 5,
            )
            continue
        messages = [{"role": "user", "parts": [{"type": "text", "content": text * 20}]}]
        if history:
            messages.append({"role": "assistant", "parts": [{"type": "text", "content": text}]})
            messages.append({"role": "user", "parts": [{"type": "text", "content": text * 9}]})
        trace.span(
            "chat m",
            {
                "gen_ai.operation.name": "chat",
                "gen_ai.request.model": "m",
                "gen_ai.usage.input_tokens": 10 + index,
                "gen_ai.usage.output_tokens": 3,
                "gen_ai.input.messages": json.dumps(messages),
                "gen_ai.output.messages": json.dumps(
                    [{"role": "assistant", "parts": [{"type": "text", "content": text * 60}]}]
                ),
            },
            parent=root,
            at=at,
            until=at + 8,
        )
    root.end(end_time=BASE_NS + (steps * 10 + 1) * MS)
    return trace.run(root)


def _same_fit(payload: dict[str, Any], limit: int) -> None:
    try:
        done = reference_encode(payload, max_bytes=limit)
        expected: Any = (done.body, done.truncated, done.dropped_steps)
    except PayloadTooLargeError as exc:
        expected = str(exc)
    try:
        fitted = encode_payload(payload, max_bytes=limit)
        got: Any = (fitted.body, fitted.truncated, fitted.dropped_steps)
    except PayloadTooLargeError as exc:
        got = str(exc)
    assert got == expected, limit
    if not isinstance(got, str) and got[1]:
        assert len(got[0]) <= limit


def _limits(payload: dict[str, Any]) -> list[int]:
    size = len(encode_payload(payload, max_bytes=1 << 40).body)
    fractions = (1.0, 0.97, 0.8, 0.6, 0.45, 0.3, 0.2, 0.1, 0.05, 0.02, 0.01, 0.004)
    return sorted({max(200, int(size * f)) for f in fractions})


@pytest.mark.parametrize(
    ("steps", "text", "history", "capture"),
    [
        (40, "Where is parcel 42? ", False, True),
        (40, "Où est le colis 42 ? 包裹 😀 ", True, True),
        (25, 'escapes " \\ \n \t \x01 ', True, True),
        (60, "Where is parcel 42? ", True, False),
        (130, "x", False, True),
    ],
)
def test_fitting_gives_the_reference_bytes_on_converted_runs(
    steps: int, text: str, history: bool, capture: bool
) -> None:
    payload = convert_run(_run(steps, text, history), capture_content=capture)
    for limit in _limits(payload):
        _same_fit(payload, limit)
        try:
            fitted = encode_payload(payload, max_bytes=limit)
        except PayloadTooLargeError:
            continue
        # A resend after a 413 shrinks an already shrunk payload again.
        again = json.loads(fitted.body)
        _same_fit(again, max(1024, len(fitted.body) // 2))


def _hand_made(rng: random.Random) -> dict[str, Any]:
    steps = []
    count = rng.randrange(0, 40)
    for number in range(1, count + 1):
        step: dict[str, Any] = {
            "metadata": {"parent_step": rng.randrange(0, number + 1), "depth": 2}
            if rng.random() < 0.7
            else {"parent_step": rng.choice([None, "x", number - 1])},
            "step_number": number if rng.random() < 0.9 else rng.choice([True, 2.5, "n"]),
            "action": "llm_call",
            "input_preview": rng.choice(_TEXTS) * rng.randrange(1, 300),
            "output_preview": rng.choice([None, "", rng.choice(_TEXTS) * rng.randrange(300)]),
        }
        if rng.random() < 0.4:
            step["tool_call"] = {
                "input_summary": rng.choice(_TEXTS) * rng.randrange(200),
                "output_summary": rng.choice(_TEXTS) * rng.randrange(200),
            }
        if rng.random() < 0.6:
            step["llm_call"] = {"model": "m", "prompt_tokens": number, "temperature": None}
        steps.append(step)
    calls = [s["llm_call"] for s in steps if "llm_call" in s]
    payload: dict[str, Any] = {
        "environment": {"custom_tags": {"k": "v"}},
        "steps": steps,
        "name": "hand made",
        "current_datetime": "2025-01-01T00:00:00.000Z",
        "duration": rng.choice([1.5, float("nan")]),
        "errors": [
            {"message": rng.choice(_TEXTS) * 50, "error_type": "E", "stack_trace": "s" * 900}
            for _ in range(rng.randrange(0, 30))
        ],
        "llm_usage": {
            "calls": calls if rng.random() < 0.8 else calls[:1],
            "api_calls_count": len(calls),
            "model": rng.choice(["m", None]),
        },
    }
    if rng.random() < 0.5:
        payload["description"] = rng.choice(["", "[3 earlier steps truncated] before", "d" * 50])
    return payload


def test_fitting_gives_the_reference_bytes_on_hand_made_payloads() -> None:
    # Cleaned first, as conversion's payloads are: the reference estimates what to drop
    # from the sizes of the steps as given, which for null values differ from what is sent.
    rng = random.Random(7)
    for _ in range(60):
        payload = order_payload(_hand_made(rng))
        for limit in _limits(payload):
            _same_fit(payload, limit)


def test_fitting_an_unclean_payload_sends_a_valid_truncated_body() -> None:
    rng = random.Random(8)
    for _ in range(30):
        payload = _hand_made(rng)
        for limit in _limits(payload):
            try:
                fitted = encode_payload(payload, max_bytes=limit)
            except PayloadTooLargeError:
                continue
            sent = json.loads(fitted.body)
            if not fitted.truncated:
                continue
            assert len(fitted.body) <= limit
            assert sent["environment"]["custom_tags"]["truncated"] == "true"
            assert fitted.body == json_encoder._std_dumps(order_payload(sent))  # clean, in order
            if fitted.dropped_steps:
                assert "earlier steps truncated] " in sent["description"]


def test_fitting_leaves_the_payload_unchanged() -> None:
    payload = convert_run(_run(30))
    before = json.dumps(payload)
    fitted = encode_payload(payload, max_bytes=len(before) // 4)
    assert fitted.truncated
    assert json.dumps(payload) == before


# ------------------------------------------------------------------ both encoders


@pytest.mark.parametrize(
    ("steps", "text"),
    [(70, "Where is parcel 42? "), (130, 'escapes " \\ \n é 😀 ')],
)
def test_fitting_a_long_run_gives_the_reference_bytes_with_either_encoder(
    encoder: str, steps: int, text: str
) -> None:
    # Long enough for the standard encoder's first encoding to mark the steps.
    payload = convert_run(_run(steps, text, history=True))
    for limit in _limits(payload):
        _same_fit(payload, limit)


def test_fitting_hand_made_payloads_gives_the_reference_bytes_with_either_encoder(
    encoder: str,
) -> None:
    rng = random.Random(11)
    for _ in range(25):
        payload = order_payload(_hand_made(rng))
        for limit in _limits(payload):
            _same_fit(payload, limit)


def test_a_step_holding_the_mark_between_steps_is_sent_as_it_is(encoder: str) -> None:
    payload = convert_run(_run(80))
    mark = json_encoder._ITEM_MARK
    payload["steps"][5]["metadata"]["notes"] = ["a", mark, "b"]  # exactly the mark, between
    payload["steps"][9]["metadata"]["notes"] = [1, mark, mark, mark, 2]
    whole = json_encoder._std_dumps(payload)
    assert encode_payload(payload, max_bytes=len(whole)).body == whole
    for limit in _limits(payload):
        _same_fit(payload, limit)


def test_fitting_an_ordered_payload_leaves_it_unchanged(encoder: str) -> None:
    payload = convert_run(_run(90))
    payload["steps"][40]["metadata"]["parent_step"] = 39
    payload["steps"][41]["tool_call"] = {"tool_name": "t", "input_summary": "x" * 400}
    before = json.dumps(payload)
    for limit in _limits(payload):
        encode_payload(payload, max_bytes=limit)
    assert json.dumps(payload) == before
