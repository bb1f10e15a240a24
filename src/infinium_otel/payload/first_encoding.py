"""The payload encoded once, as it is: the body when it fits, and where fitting starts.

With the standard encoder and many steps, the steps are encoded with a mark
between each two, so fitting can split them apart rather than encode them again.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from infinium_otel.payload.json_encoder import (
    _ITEM_MARK,
    _ITEM_SPLIT,
    _dumps,
    _dumps_telling,
    _with_orjson,
)

# From this many steps on, the standard encoder's first encoding marks where each step
# ends, so that fitting, when needed, starts from those bytes rather than encoding them
# again. Not with orjson: encoding the steps again costs it less than taking the marks
# out of every big body that fits.
_MARKED_STEPS_MIN = 64


class FirstEncoding:
    """The payload encoded once, as it is; the bytes of each of its steps when there are many.

    The steps are encoded with a mark between each two; ``body`` takes the marks
    out (one fast pass over the bytes), ``steps`` splits there. Should a step hold
    the mark itself, the counts tell, and the payload is encoded again plainly.
    """

    _body: bytes
    by_orjson: bool
    length: int

    def __init__(self, payload: Mapping[str, Any], finite: bool = False) -> None:
        """``finite``: ``payload`` holds no NaN or infinity (as ``order_payload`` returns
        it), which spares looking for where orjson would have written one."""
        self._payload = payload
        self._finite = finite
        self._steps: list[Any] = []
        self._split: list[bytes] | None = None
        steps = payload.get("steps") if type(payload) is dict else None
        if not _with_orjson() and type(steps) is list and len(steps) >= _MARKED_STEPS_MIN:
            self._steps = steps
            marked: list[Any] = [_ITEM_MARK] * (2 * len(steps) - 1)
            marked[::2] = steps
            self._body, self.by_orjson = _dumps_telling({**payload, "steps": marked}, finite)
            # Exact unless a step holds the mark too; then only ever too long (see below).
            self.length = len(self._body) - (len(steps) - 1) * (len(_ITEM_SPLIT) - 1)
        else:
            self._body, self.by_orjson = _dumps_telling(payload, finite)
            self.length = len(self._body)

    def body(self) -> bytes:
        if not self._steps:
            return self._body
        body = self._body.replace(_ITEM_SPLIT, b",")
        if len(body) != self.length:  # a step held the mark: it went too
            body = _dumps(self._payload)  # no longer than the length that was thought to fit
        return body

    def steps(self) -> list[bytes] | None:
        """Each step's bytes, when the steps were marked and hold no mark themselves."""
        if not self._steps:
            return None
        if self._split is not None:
            return self._split
        pieces = self._body.split(_ITEM_SPLIT)
        if len(pieces) != len(self._steps):
            return None
        first, last = _dumps(self._steps[0]), _dumps(self._steps[-1])
        if not (pieces[0].endswith(first) and pieces[-1].startswith(last)):
            return None
        pieces[0], pieces[-1] = first, last
        self._split = pieces
        return pieces

    def plain(self) -> FirstEncoding | None:
        """When the length is in doubt (a step held the mark): the payload encoded plainly."""
        if not self._steps or self.steps() is not None:
            return None
        plain = FirstEncoding.__new__(FirstEncoding)
        plain._payload, plain._steps, plain._split = self._payload, [], None
        plain._finite = self._finite
        plain._body, plain.by_orjson = _dumps_telling(self._payload, self._finite)
        plain.length = len(plain._body)
        return plain
