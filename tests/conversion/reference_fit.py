"""The fitting algorithm as first written, kept as the tests' reference.

It re-orders and re-encodes the whole payload at each shrink step: slow, and
plainly right. ``payload.encode`` must give the same bytes, flag and count for
every payload and limit (tests/conversion/test_encoding_speedups.py).
"""

from __future__ import annotations

import dataclasses
import json
import re
from collections.abc import Mapping
from typing import Any

from infinium_otel._text import cap
from infinium_otel.contract import DESCRIPTION_MAX
from infinium_otel.errors import PayloadTooLargeError
from infinium_otel.payload.order import order_payload

TEXT_MAX = 2_000
_TRUNCATED_PREFIX = re.compile(r"^\[(\d{1,9}) earlier steps truncated\] ")
_PREVIEW_SHRINK_STEPS = (200, 100)
_MIN_KEPT_STEPS = 10


@dataclasses.dataclass(frozen=True)
class EncodedPayload:
    body: bytes
    truncated: bool
    dropped_steps: int


def _dumps(payload: Any) -> bytes:
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        repaired = text.encode("utf-16-le", "surrogatepass").decode("utf-16-le", "replace")
        return repaired.encode("utf-8")


def reference_encode(payload: Mapping[str, Any], *, max_bytes: int) -> EncodedPayload:
    try:
        body = _dumps(payload)
    except (ValueError, TypeError, RecursionError):
        payload = order_payload(payload)
        body = _dumps(payload)
    if len(body) <= max_bytes:
        return EncodedPayload(body, False, 0)
    return _Shrinker(payload, max_bytes).fit()


class _Shrinker:
    """Shrinks a too-large payload in the contract's order; works on copies, never the input."""

    def __init__(self, payload: Mapping[str, Any], max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self.work: dict[str, Any] = dict(payload)
        self.description = str(payload.get("description") or "")
        # A payload shrunk before (a resend after a 413) keeps one prefix with the total count.
        earlier = _TRUNCATED_PREFIX.match(self.description)
        self.earlier_dropped = int(earlier.group(1)) if earlier else 0
        if earlier:
            self.description = self.description[earlier.end() :]
        self.steps: list[dict[str, Any]] = [
            _copy_step(s) for s in payload.get("steps") or () if isinstance(s, Mapping)
        ]
        usage = payload.get("llm_usage")
        self.usage: dict[str, Any] | None = dict(usage) if isinstance(usage, Mapping) else None
        calls = self.usage.get("calls") if self.usage else None
        step_calls = sum(1 for s in self.steps if "llm_call" in s)
        # Calls mirror the LLM steps one to one when conversion made them; then they go together.
        self.calls_follow_steps = bool(calls) and len(calls or ()) == step_calls
        self.dropped = 0
        environment = payload.get("environment")
        environment = dict(environment) if isinstance(environment, Mapping) else {}
        tags = environment.get("custom_tags")
        environment["custom_tags"] = {
            **(tags if isinstance(tags, Mapping) else {}),
            "truncated": "true",
        }
        self.work["environment"] = environment

    def fit(self) -> EncodedPayload:
        body = self._encode()
        if self._fits(body):
            return self._done(body)
        for limit in _PREVIEW_SHRINK_STEPS:
            for step in self.steps:
                _cap_previews(step, limit)
            body = self._encode()
            if self._fits(body):
                return self._done(body)
        body = self._drop_oldest_steps(body, keep=min(len(self.steps), _MIN_KEPT_STEPS))
        if self._fits(body):
            return self._done(body)
        for step in self.steps:
            _drop_previews(step)
        body = self._encode()
        if self._fits(body):
            return self._done(body)
        body = self._drop_oldest_steps(body, keep=0)
        if self._fits(body):
            return self._done(body)
        return self._done(self._last_resort())

    def _fits(self, body: bytes) -> bool:
        return len(body) <= self.max_bytes

    def _done(self, body: bytes) -> EncodedPayload:
        return EncodedPayload(body, True, self.dropped)

    def _encode(self) -> bytes:
        work = self.work
        if self.steps:
            work["steps"] = self.steps
        else:
            work.pop("steps", None)
        if self.usage is not None:
            if self.calls_follow_steps:
                self.usage["calls"] = [s["llm_call"] for s in self.steps if "llm_call" in s]
            work["llm_usage"] = self.usage
        if self.dropped:
            total = self.dropped + self.earlier_dropped
            work["description"] = cap(
                f"[{total} earlier steps truncated] {self.description}", DESCRIPTION_MAX
            )
        return _dumps(order_payload(work))

    def _drop_oldest_steps(self, body: bytes, keep: int) -> bytes:
        """Drop the oldest steps (keeping at least ``keep``) until the payload fits."""
        while not self._fits(body) and len(self.steps) > keep:
            excess = len(body) - self.max_bytes + 64
            removed = 0
            count = 0
            for step in self.steps[: len(self.steps) - keep]:
                if removed >= excess:
                    break
                removed += len(_dumps(step)) + 1
                if self.calls_follow_steps and "llm_call" in step:
                    removed += len(_dumps(step["llm_call"])) + 1
                count += 1
            self._renumber(count)
            body = self._encode()
        return body

    def _renumber(self, count: int) -> None:
        self.steps = self.steps[count:]
        self.dropped += count
        for step in self.steps:
            number = step.get("step_number")
            if isinstance(number, int):
                step["step_number"] = number - count
            metadata = step.get("metadata")
            if isinstance(metadata, Mapping) and "parent_step" in metadata:
                metadata = dict(metadata)
                parent = metadata.get("parent_step")
                if isinstance(parent, int) and parent > count:
                    metadata["parent_step"] = parent - count
                else:
                    del metadata["parent_step"]
                step["metadata"] = metadata

    def _last_resort(self) -> bytes:
        """Beyond the contract's order: trim the lists a huge run can still hold, then the rest."""
        work = self.work
        errors = work.get("errors")
        if isinstance(errors, list) and errors:
            work["errors"] = [
                {k: v for k, v in e.items() if k != "stack_trace"} if isinstance(e, Mapping) else e
                for e in errors
            ]
        body = self._encode()
        for key in ("errors", "calls"):
            while not self._fits(body):
                items = work.get("errors") if key == "errors" else (self.usage or {}).get("calls")
                if not isinstance(items, list) or not items:
                    break
                kept = items[len(items) // 2 + 1 :] if len(items) > 1 else []
                if key == "errors":
                    work["errors"] = kept
                else:
                    assert self.usage is not None
                    self.calls_follow_steps = False
                    self.usage["calls"] = kept
                body = self._encode()
        if self._fits(body):
            return body
        minimal = {
            "name": work.get("name"),
            "description": cap(str(work.get("description") or ""), TEXT_MAX),
            "current_datetime": work.get("current_datetime"),
            "duration": work.get("duration"),
            "environment": {"custom_tags": work["environment"]["custom_tags"]},
        }
        body = _dumps(order_payload(minimal))
        if not self._fits(body):
            raise PayloadTooLargeError(
                f"payload cannot be shrunk under {self.max_bytes} bytes", field="payload"
            )
        return body


def _copy_step(step: Mapping[str, Any]) -> dict[str, Any]:
    copied = dict(step)
    tool_call = copied.get("tool_call")
    if isinstance(tool_call, Mapping):
        copied["tool_call"] = dict(tool_call)
    return copied


def _cap_previews(step: dict[str, Any], limit: int) -> None:
    for key in ("input_preview", "output_preview"):
        value = step.get(key)
        if isinstance(value, str) and len(value) > limit:
            step[key] = cap(value, limit)
    tool_call = step.get("tool_call")
    if isinstance(tool_call, dict):
        for key in ("input_summary", "output_summary"):
            value = tool_call.get(key)
            if isinstance(value, str) and len(value) > limit:
                tool_call[key] = cap(value, limit)


def _drop_previews(step: dict[str, Any]) -> None:
    step.pop("input_preview", None)
    step.pop("output_preview", None)
    tool_call = step.get("tool_call")
    if isinstance(tool_call, dict):
        tool_call.pop("input_summary", None)
        tool_call.pop("output_summary", None)
