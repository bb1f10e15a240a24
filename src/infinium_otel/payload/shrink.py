"""Shrinking a payload over the size limit, in the contract's order, to exact bytes.

Steps: cap the texts at 200 characters, then at 100; drop the oldest steps
(keeping ten); drop the texts; drop every step; then trim errors and calls, and
at last send the minimal form. The bytes are those re-ordering and re-encoding
the whole payload after each step would give (``tests/conversion/reference_fit.py``),
worked out from the encoded parts instead.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from infinium_otel._text import TRUNCATION_MARKER, cap
from infinium_otel.contract import DESCRIPTION_MAX
from infinium_otel.errors import PayloadTooLargeError
from infinium_otel.payload.first_encoding import FirstEncoding
from infinium_otel.payload.fit_lengths import (
    _cut_savings,
    _length,
    _list_length,
    _member,
    _renumbered,
)
from infinium_otel.payload.fit_steps import (
    _EMPTY_METADATA,
    _EMPTY_TOOL_CALL,
    _cap_previews,
    _drop_previews,
    _previews,
    _renumber_step,
)
from infinium_otel.payload.json_encoder import _dumps, _dumps_each
from infinium_otel.payload.limits import TEXT_MAX
from infinium_otel.payload.order import is_ordered, order_payload

__all__ = ["Fitted", "Shrinker"]

# A shrunk body and how many of the oldest steps it left out.
Fitted = tuple[bytes, int]

_TRUNCATED_PREFIX = re.compile(r"^\[(\d{1,9}) earlier steps truncated\] ")
_PREVIEW_SHRINK_STEPS = (200, 100)
# Drop steps only down to this many before dropping previews entirely.
_MIN_KEPT_STEPS = 10


class Shrinker:
    """Shrinks a too-large payload in the contract's order; works on copies, never the input.

    The payload is cleaned and ordered once, or used as it is when already in that
    order; the steps and the LLM calls are encoded (each list in one call, or taken
    from the first encoding) and the shrinking works on their byte lengths: capping
    a preview changes a length by what the capped text saves, renumbering by the
    digits that change. Only the final body is put together, from the encoded
    parts, re-encoding just the steps that changed. The result is the bytes that
    re-ordering and re-encoding the whole payload at each step would give.
    """

    def __init__(
        self,
        payload: Mapping[str, Any],
        max_bytes: int,
        first: FirstEncoding,
        *,
        ordered: bool = False,
    ) -> None:
        self.max_bytes = max_bytes
        # orjson wrote the whole payload and had nothing doubtful to write; kept only when
        # the payload is also used as it is (below): then orjson writes each of its parts,
        # and the texts and whole numbers shrinking makes, as the standard encoder does.
        self.exact = False
        self.description = str(payload.get("description") or "")
        # A payload shrunk before (a resend after a 413) keeps one prefix with the total count.
        earlier = _TRUNCATED_PREFIX.match(self.description)
        self.earlier_dropped = int(earlier.group(1)) if earlier else 0
        if earlier:
            self.description = self.description[earlier.end() :]
        raw_steps = [s for s in payload.get("steps") or () if isinstance(s, Mapping)]
        self.raw_steps = raw_steps  # as given, to take back after capping (``_cap_exact``)
        usage = payload.get("llm_usage")
        calls = usage.get("calls") if isinstance(usage, Mapping) else None
        step_calls = sum(1 for s in raw_steps if "llm_call" in s)
        # Calls mirror the LLM steps one to one when conversion made them; then they go together.
        self.calls_follow_steps = bool(calls) and _length(calls) == step_calls
        self.dropped = 0
        work = dict(payload)
        environment = payload.get("environment")
        environment = dict(environment) if isinstance(environment, Mapping) else {}
        tags = environment.get("custom_tags")
        environment["custom_tags"] = {
            **(tags if isinstance(tags, Mapping) else {}),
            "truncated": "true",
        }
        work["environment"] = environment
        if raw_steps:
            work["steps"] = raw_steps
        else:
            work.pop("steps", None)
        if self.calls_follow_steps and isinstance(usage, Mapping):
            work["llm_usage"] = {
                **usage,
                "calls": [s["llm_call"] for s in raw_steps if "llm_call" in s],
            }
        reused: list[bytes] | None = None
        if ordered or is_ordered(_without_repeats(work, self.calls_follow_steps)):
            # Built in contract order already (conversion builds it so): no cleaning pass;
            # a copy of each step, and of an object in one only when shrinking changes it
            # (``_owned``), so the input is left be.
            if raw_steps:
                work["steps"] = [dict(step) for step in raw_steps]
            usage = work.get("llm_usage")
            if isinstance(usage, dict):
                work["llm_usage"] = dict(usage)
            self.work: dict[str, Any] = work
            self.exact = first.by_orjson
            if len(raw_steps) == _length(payload.get("steps")):
                reused = first.steps()  # the same steps, already encoded
        else:
            # Cleaned once: new dicts and lists throughout, so changing them leaves the input be.
            self.work = order_payload(work)
        self.steps: list[dict[str, Any]] = self.work.get("steps") or []
        self.keys = list(self.work)
        if "description" not in self.keys:  # where a "[n earlier steps truncated]" one goes
            self.keys.insert(1 if self.keys[:1] == ["name"] else 0, "description")
        self.members = {
            key: _member(key, value)
            for key, value in self.work.items()
            if key != "steps" and not (key == "llm_usage" and self.calls_follow_steps)
        }
        self.step_bytes: list[bytes | None]
        if self.exact:
            # Encoded when first needed, with the capped ones (``_cap_exact``): one call.
            self.step_bytes = [None] * len(self.steps)
            self.step_lengths = [0] * len(self.steps)
        else:
            self.step_bytes = list(reused if reused is not None else self._dumps_each(self.steps))
            self.step_lengths = [len(b) for b in self.step_bytes if b is not None]
        self.call_lengths = self._call_lengths()
        # Bytes of objects emptied by shrinking: gone from the body, still counted when
        # estimating what to drop (as the whole-payload algorithm did).
        self.emptied = [0] * len(self.steps)
        self.usage_parts = self._usage_parts()

    def _dumps_each(self, items: list[Any]) -> list[bytes]:
        return _dumps_each(items, self.exact)

    def _call_lengths(self) -> list[int]:
        """Each step's encoded ``llm_call`` length (0 without one), from one encoder call."""
        calls = self._dumps_each([step["llm_call"] for step in self.steps if "llm_call" in step])
        if len(calls) == len(self.steps):  # every step an LLM call
            return [len(call) for call in calls]
        lengths = [0] * len(self.steps)
        position = 0
        for index, step in enumerate(self.steps):
            if "llm_call" in step:
                lengths[index] = len(calls[position])
                position += 1
        return lengths

    # -- lengths ---------------------------------------------------------

    def _length(self) -> int:
        """The byte length of the body ``_body`` would put together now."""
        lengths = [len(self._description_member() or b"") if self.dropped else 0]
        lengths.extend(
            len(m) for k, m in self.members.items() if not (k == "description" and self.dropped)
        )
        if self.steps:
            lengths.append(len(_STEPS_KEY) + _list_length(self.step_lengths))
        usage = self._usage_length()
        if usage is not None:
            lengths.append(usage)
        kept = [n for n in lengths if n]
        return 2 + sum(kept) + len(kept) - 1

    def _usage_length(self) -> int | None:
        if not self.calls_follow_steps or self.usage_parts is None:
            return None
        prefix, suffix, without = self.usage_parts
        calls = [n for n in self.call_lengths if n]
        if not calls:
            return len(without) if without else None
        return len(prefix) + _list_length(calls) + len(suffix)

    def _fits(self, length: int) -> bool:
        return length <= self.max_bytes

    # -- shrinking -------------------------------------------------------

    def fit(self) -> Fitted:
        capped = self._cap_exact() if self.exact else self._cap_measured()
        if capped is not None:
            return capped
        self._drop_oldest_steps(keep=min(len(self.steps), _MIN_KEPT_STEPS))
        if self._fits(self._length()):
            return self._done(self._body())
        for index, step in enumerate(self.steps):
            changed, emptied = _drop_previews(step)
            if changed:
                self.emptied[index] += len(_EMPTY_TOOL_CALL) if emptied else 0
                self._changed(index)
        if self._fits(self._length()):
            return self._done(self._body())
        self._drop_oldest_steps(keep=0)
        if self._fits(self._length()):
            return self._done(self._body())
        return self._done(self._last_resort())

    def _cap_measured(self) -> Fitted | None:
        """The payload as it is, or with its texts capped, when that fits; else capped at last.

        Capping at the first limit and then the next is capping at the next: the
        first is only measured, and done only when it is enough.
        """
        if self._fits(self._length()):
            return self._done(self._body())
        first, last = _PREVIEW_SHRINK_STEPS
        if self._fits(self._length() - _cut_savings(self._previews(first), first)):
            self._cap_all(first, measure=True)
            return self._done(self._body())
        self._cap_all(last, measure=True)
        if self._fits(self._length()):
            return self._done(self._body())
        return None

    def _cap_exact(self) -> Fitted | None:
        """``_cap_measured``'s outcome, for steps orjson encodes (faster than measuring).

        The texts are capped at the last limit first and every step encoded in one
        call: when even that does not fit, neither do the payload as it is nor its
        texts capped at the first limit (each is longer), and nothing else is
        measured. When it fits, those two lengths follow from the capped one and
        the bytes the caps saved, and the steps are taken again as they were if
        one of them fits.
        """
        first, last = _PREVIEW_SHRINK_STEPS
        capped = self._cap_texts(last)
        self._encode_stale()  # the lengths to drop steps by, and the bytes of those kept
        length = self._length()
        if not self._fits(length):
            return None
        texts = _previews(self.raw_steps, last)
        whole = length + _cut_savings(texts, last)
        limit = None
        if self._fits(whole):
            limit = 0
        elif self._fits(whole - _cut_savings([t for t in texts if len(t) > first], first)):
            limit = first
        if limit is not None:
            for index in capped:
                self.steps[index] = dict(self.raw_steps[index])
                self.step_bytes[index] = None
            if limit:
                self._cap_all(limit, measure=False)
        return self._done(self._body())

    def _cap_texts(self, limit: int) -> list[int]:
        """Cap every step's texts at ``limit`` (as ``_cap_previews``); the steps that changed.

        The loop of ``_cap_all`` written out for the commonest texts: it runs over
        every step of the biggest runs.
        """
        head = max(0, limit - len(TRUNCATION_MARKER))
        capped: list[int] = []
        encoded = self.step_bytes
        for index, step in enumerate(self.steps):
            changed = False
            text = step.get("input_preview")
            if isinstance(text, str) and len(text) > limit:
                step["input_preview"] = text[:head] + TRUNCATION_MARKER
                changed = True
            text = step.get("output_preview")
            if isinstance(text, str) and len(text) > limit:
                step["output_preview"] = text[:head] + TRUNCATION_MARKER
                changed = True
            if "tool_call" in step and _cap_previews(step, limit, measure=False):
                changed = True
            if changed:
                capped.append(index)
                encoded[index] = None
        return capped

    def _previews(self, limit: int) -> list[str]:
        return _previews(self.steps, limit)

    def _cap_all(self, limit: int, *, measure: bool) -> None:
        """Cap every step's previews; ``measure``: follow the lengths (else encode again)."""
        for index, step in enumerate(self.steps):
            saved = _cap_previews(step, limit, measure=measure)
            if saved:
                self.step_lengths[index] -= saved if measure else 0
                self.step_bytes[index] = None

    def _encode_stale(self) -> None:
        """Encode the steps that changed, all in one call; their lengths are then exact."""
        encoded = self.step_bytes
        stale = [index for index, body in enumerate(encoded) if body is None]
        if len(stale) == len(encoded):  # all of them (with orjson, after each change)
            bodies = self._dumps_each(self.steps)
            encoded[:] = bodies
            self.step_lengths[:] = map(len, bodies)
            return
        bodies = self._dumps_each([self.steps[i] for i in stale])
        for index, body in zip(stale, bodies, strict=True):
            encoded[index] = body
            self.step_lengths[index] = len(body)

    def _done(self, body: bytes) -> Fitted:
        return body, self.dropped

    def _changed(self, index: int) -> None:
        """Step ``index`` changed in a way its length cannot follow: encode it again."""
        encoded = _dumps(self.steps[index])
        self.step_bytes[index] = encoded
        self.step_lengths[index] = len(encoded)

    def _drop_oldest_steps(self, keep: int) -> None:
        """Drop the oldest steps (keeping at least ``keep``) until the payload fits."""
        length = self._length()
        while not self._fits(length) and len(self.steps) > keep:
            excess = length - self.max_bytes + 64
            removed = 0
            count = 0
            for index in range(len(self.steps) - keep):
                if removed >= excess:
                    break
                removed += self.step_lengths[index] + self.emptied[index] + 1
                if self.calls_follow_steps and "llm_call" in self.steps[index]:
                    removed += self.call_lengths[index] + 1
                count += 1
            self._renumber(count)
            length = self._length()

    def _renumber(self, count: int) -> None:
        del self.steps[:count]
        del self.step_bytes[:count]
        del self.step_lengths[:count]
        del self.call_lengths[:count]
        del self.emptied[:count]
        self.dropped += count
        encoded = self.step_bytes
        if self.exact:  # every step encoded again, all in one call
            emptied = self.emptied
            for index, step in enumerate(self.steps):
                if _renumber_step(step, count, measure=False) is None:
                    emptied[index] += len(_EMPTY_METADATA)
            encoded[:] = [None] * len(encoded)
            self._encode_stale()
            return
        for index, step in enumerate(self.steps):
            metadata = step.get("metadata")
            # Only a step whose number alone changes can be patched.
            number = (
                None
                if isinstance(metadata, dict) and "parent_step" in metadata
                else step.get("step_number")
            )
            change = _renumber_step(step, count)
            if change is None:
                self.emptied[index] += len(_EMPTY_METADATA)
                self._changed(index)
            elif change or encoded[index] is not None:
                self.step_lengths[index] += change
                encoded[index] = _renumbered(encoded[index], number, step)

    # -- the body --------------------------------------------------------

    def _description_member(self) -> bytes | None:
        if not self.dropped:
            return self.members.get("description")
        total = self.dropped + self.earlier_dropped
        text = cap(f"[{total} earlier steps truncated] {self.description}", DESCRIPTION_MAX)
        return _member("description", text)

    def _body(self) -> bytes:
        """The body from the encoded parts, encoding again only the steps that changed.

        Joined once: each join or concatenation of a body-sized result is another
        megabyte of fresh memory for the biggest runs.
        """
        pieces: list[bytes] = [b"{"]
        for key in self.keys:
            if key == "description":
                member = self._description_member()
            elif key == "steps":
                if self.steps:
                    self._encode_stale()
                    if len(pieces) > 1:
                        pieces.append(b",")
                    pieces.append(_STEPS_KEY + b"[")
                    pieces.extend(_interleaved(self.step_bytes, b","))
                    pieces.append(b"]")
                continue
            elif key == "llm_usage" and self.calls_follow_steps:
                member = self._usage_member()
            else:
                member = self.members.get(key)
            if member:
                if len(pieces) > 1:
                    pieces.append(b",")
                pieces.append(member)
        pieces.append(b"}")
        return b"".join(pieces)

    def _usage_parts(self) -> tuple[bytes, bytes, bytes | None] | None:
        """The ``llm_usage`` member around its calls: (before, after, member without calls)."""
        usage = self.work.get("llm_usage")
        if not self.calls_follow_steps or not isinstance(usage, dict) or "calls" not in usage:
            if self.calls_follow_steps:
                self.calls_follow_steps = False  # no call survived cleaning: nothing to follow
                if "llm_usage" in self.work:
                    self.members["llm_usage"] = _member("llm_usage", self.work["llm_usage"])
            return None
        marked = _member("llm_usage", {**usage, "calls": _CALLS_MARK})
        prefix, _, suffix = marked.partition(_CALLS_MARK_BYTES)
        rest = {k: v for k, v in usage.items() if k != "calls"}
        return prefix, suffix, _member("llm_usage", rest) if rest else None

    def _usage_member(self) -> bytes | None:
        if self.usage_parts is None:
            return None
        prefix, suffix, without = self.usage_parts
        calls = [s["llm_call"] for s in self.steps if "llm_call" in s]
        if not calls:
            return without
        return prefix + _dumps(calls) + suffix  # the list, as its items encoded apart would be

    def _last_resort(self) -> bytes:
        """Beyond the contract's order: trim the lists a huge run can still hold, then the rest."""
        work = self.work
        if self.steps:
            work["steps"] = self.steps
        else:
            work.pop("steps", None)
        usage = work.get("llm_usage")
        if self.calls_follow_steps and isinstance(usage, dict):
            usage["calls"] = [s["llm_call"] for s in self.steps if "llm_call" in s]
        if self.dropped:
            total = self.dropped + self.earlier_dropped
            work["description"] = cap(
                f"[{total} earlier steps truncated] {self.description}", DESCRIPTION_MAX
            )
        errors = work.get("errors")
        if isinstance(errors, list) and errors:
            work["errors"] = [
                {k: v for k, v in e.items() if k != "stack_trace"} if isinstance(e, Mapping) else e
                for e in errors
            ]
        body = _dumps(order_payload(work))
        for key in ("errors", "calls"):
            while not self._fits(len(body)):
                usage = work.get("llm_usage")
                items = work.get("errors") if key == "errors" else _calls_of(usage)
                if not isinstance(items, list) or not items:
                    break
                kept = items[len(items) // 2 + 1 :] if len(items) > 1 else []
                if key == "errors":
                    work["errors"] = kept
                else:
                    assert isinstance(usage, dict)
                    usage["calls"] = kept
                body = _dumps(order_payload(work))
        if self._fits(len(body)):
            return body
        minimal = {
            "name": work.get("name"),
            "description": cap(str(work.get("description") or ""), TEXT_MAX),
            "current_datetime": work.get("current_datetime"),
            "duration": work.get("duration"),
            "environment": {"custom_tags": work["environment"]["custom_tags"]},
        }
        body = _dumps(order_payload(minimal))
        if not self._fits(len(body)):
            raise PayloadTooLargeError(
                f"payload cannot be shrunk under {self.max_bytes} bytes", field="payload"
            )
        return body


_STEPS_KEY = b'"steps":'
# Stands in for the calls while the rest of ``llm_usage`` is encoded around them.
_CALLS_MARK = "\x00infinium-otel-calls\x00"
_CALLS_MARK_BYTES = b'"\\u0000infinium-otel-calls\\u0000"'


def _without_repeats(work: dict[str, Any], calls_follow_steps: bool) -> dict[str, Any]:
    """``work`` for ``is_ordered``, its calls cut to the first when they are the steps' calls.

    Those are the same objects, checked as the steps' (same key order, same depth),
    so looking at them once is enough; the first keeps the list's place and kind.
    """
    usage = work.get("llm_usage")
    if not calls_follow_steps or not isinstance(usage, dict) or not usage.get("calls"):
        return work
    return {**work, "llm_usage": {**usage, "calls": usage["calls"][:1]}}


def _interleaved(items: list[bytes | None], separator: bytes) -> list[bytes]:
    """``items`` with ``separator`` between each two, for one join (all items encoded)."""
    spaced: list[bytes] = [separator] * (2 * len(items) - 1)
    spaced[::2] = items  # type: ignore[assignment]
    return spaced


def _calls_of(usage: Any) -> Any:
    return usage.get("calls") if isinstance(usage, dict) else None
