"""The error family of the Infinium API (see docs/client.md).

Every error carries a message, an optional HTTP status and a ``details`` dict.
None of them ever holds the agent secret: messages are built from status codes,
paths and setting names only.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "InfiniumError",
    "InfiniumTimeoutError",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "UnexpectedResponseError",
    "ValidationError",
]


class InfiniumError(Exception):
    """Base of every error this package raises on purpose."""

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status_code = status_code
        self.details: dict[str, Any] = dict(details or {})

    def __str__(self) -> str:
        return self.message

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.message!r}, status_code={self.status_code!r})"


class ConfigurationError(InfiniumError):
    """A setting is missing or has a bad value; ``config_key`` names it."""

    def __init__(self, message: str, *, config_key: str | None = None) -> None:
        super().__init__(message, details={"config_key": config_key} if config_key else None)
        self.config_key = config_key


class ValidationError(InfiniumError):
    """An argument or payload is invalid; ``field`` names what."""

    def __init__(
        self,
        message: str,
        *,
        field: str | None = None,
        status_code: int | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        merged = dict(details or {})
        if field is not None:
            merged.setdefault("field", field)
        super().__init__(message, status_code=status_code, details=merged)
        self.field = field


class PayloadTooLargeError(ValidationError):
    """The payload exceeds the API's size limit (locally checked, or a 413)."""


class AuthenticationError(InfiniumError):
    """401: the agent id or secret was refused. Never retried."""


class PermissionDeniedError(AuthenticationError):
    """403: the credentials are valid but not allowed here. Never retried."""


class NotFoundError(InfiniumError):
    """404 on a call where it is an error (not on interpretation polling)."""


class RateLimitError(InfiniumError):
    """429: ``retry_after`` seconds to wait before the next call."""

    def __init__(
        self,
        message: str,
        *,
        retry_after: float = 60.0,
        status_code: int | None = 429,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, status_code=status_code, details=details)
        self.retry_after = retry_after


class ServerError(InfiniumError):
    """5xx: the server failed; retried with backoff."""


class UnexpectedResponseError(InfiniumError):
    """An answer the Infinium API does not give: a 2xx without the expected JSON (no
    ``traceId`` for a trace), a web page, or a 404 from another path. Whatever
    answered is not the API (a wrong base URL, a proxy's page), so it is never
    retried and never counts as a delivery; the message says what came back.
    """


class NetworkError(InfiniumError):
    """The request did not get an HTTP answer; ``original_error`` says why."""

    def __init__(
        self,
        message: str,
        *,
        original_error: BaseException | None = None,
        details: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(message, details=details)
        self.original_error = original_error


class InfiniumTimeoutError(NetworkError):
    """A network-level timeout (connect or read), never a Maestro processing wait."""

    def __init__(
        self,
        message: str,
        *,
        timeout_duration: float | None = None,
        original_error: BaseException | None = None,
    ) -> None:
        super().__init__(message, original_error=original_error)
        self.timeout_duration = timeout_duration
