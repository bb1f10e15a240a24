"""What the sandbox remembers of each request, with the agent key already redacted."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from infinium_otel.sandbox.faults import Fault

__all__ = ["HeaderDict", "RecordedRequest", "redacted_headers"]

_REDACTED = "<redacted>"


class HeaderDict(dict[str, str]):
    """Request headers as sent, looked up without regard to case."""

    def _key(self, name: object) -> object:
        if isinstance(name, str):
            for key in self.keys():
                if key.lower() == name.lower():
                    return key
        return name

    def __getitem__(self, name: str) -> str:
        return super().__getitem__(str(self._key(name)))

    def __contains__(self, name: object) -> bool:
        return super().__contains__(self._key(name))

    def get(self, name: str, default: Any = None) -> Any:
        return super().get(str(self._key(name)), default)


@dataclass(frozen=True)
class RecordedRequest:
    """One request as the sandbox saw it (the agent key is never kept)."""

    method: str
    path: str
    status: int | None
    headers: HeaderDict
    at: float
    endpoint: str
    body_bytes: int = 0
    fault: Fault | None = field(default=None, compare=False)


def redacted_headers(items: Iterable[tuple[str, str]]) -> HeaderDict:
    """The headers as sent, except the agent key, so tests can inspect them safely."""
    return HeaderDict(
        (name, _REDACTED if name.lower() == "x-agent-key" else value) for name, value in items
    )
