"""The result object every client call returns."""

from __future__ import annotations

import dataclasses
from typing import Any

__all__ = ["ApiResponse"]


@dataclasses.dataclass(frozen=True)
class ApiResponse:
    """What the API answered: ``success``, the HTTP status, a message and the JSON body.

    ``success`` is False for the expected "not there yet" answers (an
    interpretation still being graded); real failures raise an ``InfiniumError``.
    """

    success: bool
    status_code: int | None
    message: str
    data: dict[str, Any] | None = None

    @property
    def trace_id(self) -> str | None:
        """The trace id from a send answer: ``traceId``, else ``id``."""
        if not self.data:
            return None
        for key in ("traceId", "id"):
            value = self.data.get(key)
            if isinstance(value, str) and value:
                return value
        return None

    @property
    def interpreted_result(self) -> Any:
        """Maestro's interpretation when ready, else None."""
        if not self.data:
            return None
        return self.data.get("interpretedTraceResult") or None
