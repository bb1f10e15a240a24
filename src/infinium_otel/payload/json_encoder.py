"""The package's one JSON encoder for payloads, and its one size check.

Split from ``encode.py`` so that turning objects into bytes (the standard
encoder, or orjson where its bytes are certainly the same) stands apart from
fitting a payload into the size limit, which only uses it.
``encode_json`` (strict: what JSON cannot say is a ``ValidationError``) and
``check_payload_size`` serve the client, which sends a caller's payload as given.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import Any

from infinium_otel.contract import MAX_PAYLOAD_BYTES
from infinium_otel.errors import PayloadTooLargeError, ValidationError

__all__ = [
    "ENCODER",
    "check_payload_size",
    "encode_json",
]

# Which JSON encoder serialises payloads ("json", or "orjson" when the ``fast`` extra is in).
ENCODER = "json"


# ------------------------------------------------------------------ encoding

try:  # the ``fast`` extra: a C encoder, used only where its output is the same bytes
    import orjson as _orjson  # type: ignore[import-not-found,unused-ignore]
except ImportError:  # pragma: no cover - depends on the environment
    _orjson = None  # type: ignore[assignment,unused-ignore]
else:
    ENCODER = "orjson"

# orjson options that make it refuse (rather than convert) what the standard encoder
# refuses or writes differently: dataclasses, datetimes and subclasses of str, int,
# dict and list go to ``_refuse``, and then the payload to the standard encoder.
_ORJSON_OPTIONS = (
    0
    if _orjson is None
    else _orjson.OPT_PASSTHROUGH_DATACLASS
    | _orjson.OPT_PASSTHROUGH_DATETIME
    | _orjson.OPT_PASSTHROUGH_SUBCLASS
)
# Where orjson's bytes may differ from the standard encoder's: a null value (orjson
# writes NaN and infinities as null, which the standard encoder refuses) and floats
# between 1e-10 and 1e-4 (orjson "0.00001" and "1e-7", Python "1e-05" and "1e-07").
# Found by literal searches (fast), then checked where they stand; such text inside a
# string can match too, and then the standard encoder answers. (``b"e-" in body`` as a
# first look for the exponents takes fewer instructions than the regex but more time:
# a two-byte needle skips little and its branches are mispredicted.)
_NULL = re.compile(rb"null")
_SMALL_FLOAT = re.compile(rb"0\.0000")
_SHORT_EXPONENT = re.compile(rb"e-\d")
_BEFORE_VALUE = b":,["
_AFTER_VALUE = b",}]"
_DIGITS = b"0123456789"


def _orjson_doubtful(body: bytes, finite: bool = False) -> bool:
    """True where orjson's bytes could differ from the standard encoder's.

    ``finite``: the payload is known to hold no NaN or infinity (as ``order_payload``
    returns it), so a ``null`` in it is a None, which both write alike: not looked for
    (each search is a pass over the whole body).
    """
    end = len(body)
    for match in () if finite else _NULL.finditer(body):
        start, stop = match.span()
        if (start == 0 or body[start - 1] in _BEFORE_VALUE) and (
            stop == end or body[stop] in _AFTER_VALUE
        ):
            return True
    # ``in`` (CPython's substring search, which skips ahead) first: about a third of the
    # regex's instructions, and the regex finds nothing where ``in`` finds nothing.
    for match in _SMALL_FLOAT.finditer(body) if b"0.0000" in body else ():
        start = match.start()
        if start > 0 and body[start - 1] == 0x2D:  # a minus sign
            start -= 1
        if start == 0 or body[start - 1] in _BEFORE_VALUE:
            return True
    for match in _SHORT_EXPONENT.finditer(body):
        start, stop = match.span()
        if start > 0 and body[start - 1] in _DIGITS and (stop == end or body[stop] not in _DIGITS):
            return True
    return False


def _with_orjson() -> bool:
    return _orjson is not None


def _refuse(value: Any) -> Any:
    raise TypeError(type(value).__name__)


# ``json.dumps`` with these arguments, without building an encoder at each call.
_STD_ENCODER = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
# The same for payloads, without the circular check (a memo of every container, about
# 7% of the encoding): a payload that loops ends in a RecursionError instead of a
# ValueError, and ``encode_payload`` cleans it either way. The same bytes otherwise.
_PAYLOAD_ENCODER = json.JSONEncoder(
    ensure_ascii=False, separators=(",", ":"), allow_nan=False, check_circular=False
)


def _std_dumps(payload: Any, encoder: json.JSONEncoder = _PAYLOAD_ENCODER) -> bytes:
    text = encoder.encode(payload)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        repaired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return repaired.encode("utf-8")


def _dumps(payload: Any) -> bytes:
    """Compact UTF-8 JSON in the mapping's key order; split surrogates are paired, lone ones
    become U+FFFD (never a failed send). Raises ``ValueError``/``TypeError`` for non-JSON.

    With orjson installed its bytes are used when they are certainly the standard
    encoder's; otherwise (big integers, lone surrogates, non-str keys, the doubtful
    cases above) the standard encoder answers.
    """
    return _dumps_telling(payload)[0]


def _dumps_telling(payload: Any, finite: bool = False) -> tuple[bytes, bool]:
    """``_dumps``, and whether orjson wrote it (then any part of ``payload`` it writes alike).

    ``finite``: ``payload`` holds no NaN or infinity (see ``_orjson_doubtful``).
    """
    if _orjson is not None:
        try:
            body: bytes = _orjson.dumps(payload, default=_refuse, option=_ORJSON_OPTIONS)
        except TypeError:  # orjson.JSONEncodeError is a TypeError
            pass
        else:
            if not _orjson_doubtful(body, finite):
                return body, True
    return _std_dumps(payload), False


def encode_json(payload: Mapping[str, Any]) -> bytes:
    """A caller's payload as compact UTF-8 JSON, unchanged; what JSON cannot say is refused.

    NaN, infinities and objects JSON has no form for are a ``ValidationError``
    (``field="payload"``) rather than silently altered: the caller chose them.
    """
    if not isinstance(payload, Mapping):
        raise ValidationError(
            f"payload must be a mapping, got {type(payload).__name__}", field="payload"
        )
    try:
        # The standard encoder only: what it refuses (a UUID, an Enum) orjson would accept.
        return _std_dumps(payload, _STD_ENCODER)  # a caller's loop is named as one
    except (TypeError, ValueError, RecursionError) as exc:
        raise ValidationError(f"payload is not valid JSON: {exc}", field="payload") from None


def check_payload_size(body: bytes, limit: int = MAX_PAYLOAD_BYTES) -> None:
    """Refuse, before sending, a body the API would refuse anyway (``limit`` is inclusive)."""
    if len(body) > limit:
        raise PayloadTooLargeError(
            f"payload is {len(body)} bytes; the API accepts at most {limit}",
            field="payload",
            details={"size": len(body), "limit": limit},
        )


# Stands between the items of a list encoded in one call, to split it again.
_ITEM_MARK = "\x00infinium-otel-item\x00"
_ITEM_MARK_BYTES = b'"\\u0000infinium-otel-item\\u0000"'
_ITEM_SPLIT = b"," + _ITEM_MARK_BYTES + b","


# Items encoded per call: one call costs far less than one per item, and a bounded
# buffer is reused by the allocator where one for thousands of steps (megabytes) is
# fresh memory, its pages faulted in again at every fitting.
_EACH_CHUNK = 256


def _dumps_each(items: list[Any], exact: bool = False) -> list[bytes]:
    """``[_dumps(item) for item in items]``, from one encoder call per ``_EACH_CHUNK`` items.

    ``exact``: orjson's bytes are known to be the standard encoder's for these items
    (see ``_Shrinker``), so they are not looked over again.

    Each list is split again at marks between the items. Should an item hold the
    mark itself, the split finds more parts than items, and each item is encoded
    on its own instead.
    """
    if len(items) <= _EACH_CHUNK:
        return _dumps_chunk(items, exact)
    encoded: list[bytes] = []
    for start in range(0, len(items), _EACH_CHUNK):
        encoded.extend(_dumps_chunk(items[start : start + _EACH_CHUNK], exact))
    return encoded


def _dumps_chunk(items: list[Any], exact: bool) -> list[bytes]:
    if len(items) < 2 and not exact:
        return [_dumps(item) for item in items]
    if not items:
        return []
    spaced: list[Any] = [_ITEM_MARK] * (2 * len(items) - 1)
    spaced[::2] = items
    try:
        if exact and _orjson is not None:  # known to need no second look
            body: bytes = _orjson.dumps(spaced, default=_refuse, option=_ORJSON_OPTIONS)
        else:
            body = _dumps(spaced)
        parts = body.split(_ITEM_SPLIT)  # then the list's brackets off its ends
    except (ValueError, TypeError, RecursionError):
        parts = []
    if len(parts) != len(items):
        return [_dumps(item) for item in items]
    parts[0] = parts[0][1:]
    parts[-1] = parts[-1][:-1]
    return parts
