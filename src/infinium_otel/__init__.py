"""infinium-otel: send OpenTelemetry-instrumented agent runs to Infinium.

``configure()`` is the one call most applications need; the exporter, the
interpretation processor, the client and the helpers are here for the rest.
"""

from ._version import __version__
from .async_client import AsyncInfiniumClient
from .client import InfiniumClient
from .config import Settings
from .configuration import InfiniumHandle, configure
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
from .exporter import InfiniumSpanExporter
from .instrumentation.helpers import agent, step, tool
from .interpretation import (
    InterpretationOutcome,
    InterpretationProcessor,
    InterpretationRequest,
)
from .response import ApiResponse

__all__ = [
    "ApiResponse",
    "AsyncInfiniumClient",
    "AuthenticationError",
    "ConfigurationError",
    "InfiniumClient",
    "InfiniumError",
    "InfiniumHandle",
    "InfiniumSpanExporter",
    "InfiniumTimeoutError",
    "InterpretationOutcome",
    "InterpretationProcessor",
    "InterpretationRequest",
    "NetworkError",
    "NotFoundError",
    "PayloadTooLargeError",
    "PermissionDeniedError",
    "RateLimitError",
    "ServerError",
    "Settings",
    "ValidationError",
    "__version__",
    "agent",
    "configure",
    "step",
    "tool",
]
