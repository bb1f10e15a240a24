"""The trace payload model: caps, contract key order and fit-to-size.

``order_payload`` gives any payload-shaped dict the contract's key order and
drops null, empty-list and empty-object values (and non-finite numbers).
``encode_payload`` turns it into compact UTF-8 JSON in one encoder call when
it fits, and otherwise shrinks it in the contract's order (``shrink.py``) so the
run is still delivered, marked ``environment.custom_tags.truncated = "true"``.

The JSON encoder itself, and the client's strict ``encode_json`` and
``check_payload_size``, live in ``json_encoder.py``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

from infinium_otel._text import cap
from infinium_otel.contract import MAX_PAYLOAD_BYTES, TARGET_PAYLOAD_BYTES
from infinium_otel.payload.first_encoding import FirstEncoding
from infinium_otel.payload.limits import SHORT_TEXT_MAX, TEXT_MAX
from infinium_otel.payload.order import order_payload
from infinium_otel.payload.shrink import Shrinker

__all__ = [
    "MAX_PAYLOAD_BYTES",
    "SHORT_TEXT_MAX",
    "TARGET_PAYLOAD_BYTES",
    "TEXT_MAX",
    "EncodedPayload",
    "cap",
    "encode_payload",
    "order_payload",
]


@dataclasses.dataclass(frozen=True)
class EncodedPayload:
    body: bytes
    truncated: bool
    dropped_steps: int


def encode_payload(
    payload: Mapping[str, Any], *, max_bytes: int = TARGET_PAYLOAD_BYTES, ordered: bool = False
) -> EncodedPayload:
    """Compact UTF-8 JSON of ``payload``, shrunk in the contract's order when over ``max_bytes``.

    ``ordered``: the caller knows ``payload`` is already as ``order_payload`` returns
    it (in contract order, without empty or non-finite values), as ``convert_run``
    builds it; fitting then skips checking that, a pass over the whole payload.
    Raises ``PayloadTooLargeError`` only when even the minimal form (name,
    description, time, duration, environment) does not fit.
    """
    try:
        first = FirstEncoding(payload, finite=ordered)
    except (ValueError, TypeError, RecursionError):
        payload = order_payload(payload)
        first = FirstEncoding(payload, finite=True)
    if first.length > max_bytes:
        first = first.plain() or first
    if first.length <= max_bytes:
        return EncodedPayload(first.body(), False, 0)
    body, dropped = Shrinker(payload, max_bytes, first, ordered=ordered).fit()
    return EncodedPayload(body, True, dropped)
