"""What one API call is on the wire: the request to make and the raw answer.

Plain data, no I/O: the transport performs a ``Request`` and hands back a
``RawResponse``; ``answers.map_response`` reads it.
"""

from __future__ import annotations

import dataclasses
import sys
from collections.abc import Mapping

from infinium_otel._version import __version__
from infinium_otel.credentials import is_valid_uuid
from infinium_otel.errors import ValidationError

__all__ = [
    "CREDENTIALS",
    "INTERPRETATION",
    "TRACE",
    "USER_AGENT",
    "RawResponse",
    "Request",
    "validate_path_id",
]

USER_AGENT = f"infinium-otel/{__version__} python/{sys.version_info[0]}.{sys.version_info[1]}"

# What a call expects, which decides how its 2xx and 404 answers read.
TRACE = "trace"
INTERPRETATION = "interpretation"
CREDENTIALS = "credentials"


@dataclasses.dataclass(frozen=True)
class Request:
    """One API call: method, path below the base URL, body and what it is for."""

    method: str
    path: str
    body: bytes | None
    purpose: str  # TRACE, INTERPRETATION or CREDENTIALS


@dataclasses.dataclass(frozen=True)
class RawResponse:
    """Status, headers and (capped) body of one HTTP answer."""

    status: int
    headers: Mapping[str, str]
    body: bytes

    def header(self, name: str) -> str | None:
        """A header's value, whatever the case of its name."""
        value = self.headers.get(name)
        if value is not None:
            return value
        wanted = name.lower()
        value = self.headers.get(wanted)
        if value is not None:
            return value
        for key, found in self.headers.items():
            if key.lower() == wanted:
                return found
        return None


def validate_path_id(value: object, field: str) -> str:
    """An id that goes into a URL path: a UUID, so no ``/``, ``\\`` or ``..`` can hide in it."""
    if not isinstance(value, str):
        raise ValidationError(f"{field} must be a string UUID", field=field)
    text = value.strip()
    if not text or "/" in text or "\\" in text or ".." in text or not is_valid_uuid(text):
        raise ValidationError(
            f"{field} must be a UUID (8-4-4-4-12 hex), got {value!r}", field=field
        )
    return text
