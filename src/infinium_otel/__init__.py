"""infinium-otel: send OpenTelemetry-instrumented agent runs to Infinium."""

from ._version import __version__
from .config import Settings
from .errors import (
    AuthenticationError,
    ConfigurationError,
    InfiniumError,
    InfiniumTimeoutError,
    NetworkError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    ValidationError,
)

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
    "Settings",
    "ValidationError",
    "__version__",
]
