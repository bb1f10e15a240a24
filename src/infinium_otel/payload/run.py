"""A finished agent run as assembly hands it to conversion."""

from __future__ import annotations

import dataclasses

from opentelemetry.sdk.trace import ReadableSpan

__all__ = ["Run"]


@dataclasses.dataclass(frozen=True)
class Run:
    """The run root and every span of its tree that assembly holds (root included).

    ``partial`` is true when the tree was sent before it was complete (its root
    never ended within the time-to-live, or the exporter shut down); then
    ``root`` is the best stand-in assembly had and ``partial_reason`` says why.
    """

    root: ReadableSpan
    spans: tuple[ReadableSpan, ...]
    partial: bool = False
    partial_reason: str | None = None

    @property
    def trace_id(self) -> int:
        return self.root.context.trace_id if self.root.context else 0
