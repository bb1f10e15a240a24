"""HTTP clients for the Infinium API: sync and async over one transport and one
retry policy."""

from infinium_otel.client.async_client import AsyncInfiniumClient
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.sync_client import InfiniumClient

__all__ = ["ApiResponse", "AsyncInfiniumClient", "InfiniumClient"]
