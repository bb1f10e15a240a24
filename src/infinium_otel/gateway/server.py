"""``Gateway``: the pipeline behind an OTLP/HTTP and (when grpcio is installed) an
OTLP/gRPC listener, started and stopped as one."""

from __future__ import annotations

import ipaddress
import threading
import time
from typing import Any

from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.gateway.core import GatewayOptions, Pipeline
from infinium_otel.gateway.grpc_server import grpc_available, start_grpc
from infinium_otel.gateway.http import OtlpHttpServer
from infinium_otel.gateway.tls import TlsFiles, grpc_credentials, http_context

__all__ = ["Gateway", "is_loopback"]


def is_loopback(host: str) -> bool:
    """Whether ``host`` names only this machine (``localhost`` or a loopback address)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


class Gateway:
    """Receives OTLP traces, groups them by trace, sends runs through ``exporter``."""

    def __init__(self, exporter: InfiniumSpanExporter, options: GatewayOptions) -> None:
        tls = TlsFiles.from_options(options.tls_cert, options.tls_key, options.client_ca)
        if not is_loopback(options.host) and not options.token and options.client_ca is None:
            raise ValueError(
                f"listening on {options.host} (not loopback) requires a bearer token "
                "(--token) or client certificates (--client-ca with --tls-cert, --tls-key)"
            )
        if options.grpc_port is not None and options.grpc_port and not grpc_available():
            raise ValueError("gRPC needs grpcio: pip install 'infinium-otel[gateway]'")
        self.options = options
        self._tls = tls
        self._context = http_context(tls) if tls is not None else None
        self._grpc_credentials = (
            grpc_credentials(tls)
            if tls is not None and options.grpc_port is not None and grpc_available()
            else None
        )
        self.pipeline = Pipeline(exporter, options)
        self._http: OtlpHttpServer | None = None
        self._http_thread: threading.Thread | None = None
        self._grpc: Any = None
        self._grpc_port: int | None = None
        self._closed = False
        self._result = True

    def __repr__(self) -> str:
        tls = "mtls" if self.options.client_ca else "tls" if self._tls else "plain"
        return (
            f"Gateway(host={self.options.host!r}, http_port={self.http_port}, "
            f"transport={tls}, token=...)"
        )

    def start(self) -> Gateway:
        """Listen on both transports; raises ``OSError`` when a port cannot be bound."""
        options = self.options
        self.pipeline.start()
        self._http = OtlpHttpServer(
            (options.host, options.http_port), self.pipeline, tls=self._context
        )
        self._http_thread = threading.Thread(
            target=self._http.serve_forever,
            kwargs={"poll_interval": 0.1},
            name="infinium-gateway-http",
            daemon=True,
        )
        self._http_thread.start()
        if options.grpc_port is not None and grpc_available():
            try:
                self._grpc, self._grpc_port = start_grpc(
                    self.pipeline, options.host, options.grpc_port, self._grpc_credentials
                )
            except Exception:
                self._http.shutdown()
                self._http.server_close()
                raise
        self._http.ready = True
        return self

    @property
    def http_port(self) -> int | None:
        return int(self._http.server_address[1]) if self._http is not None else None

    @property
    def grpc_port(self) -> int | None:
        return self._grpc_port

    @property
    def http_url(self) -> str:
        host = self.options.host
        shown = f"[{host}]" if ":" in host else host
        scheme = "https" if self._tls is not None else "http"
        return f"{scheme}://{shown}:{self.http_port}"

    def stats(self) -> dict[str, int]:
        return self.pipeline.stats()

    def close(self, timeout: float = 30.0) -> bool:
        """Stop accepting, hand over every held trace, deliver within ``timeout``;
        True only when every run was accepted."""
        if self._closed:
            return self._result
        self._closed = True
        deadline = time.monotonic() + max(0.0, timeout)
        if self._http is not None:
            self._http.ready = False
            self._http.shutdown()
            self._http.server_close()
        if self._grpc is not None:
            self._grpc.stop(grace=min(1.0, max(0.0, deadline - time.monotonic())))
        self._result = self.pipeline.close(max(0.0, deadline - time.monotonic()))
        return self._result

    def __enter__(self) -> Gateway:
        return self.start()

    def __exit__(self, *_: object) -> None:
        self.close()
