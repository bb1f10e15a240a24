"""TLS for both listeners, and mutual TLS when a client CA is given.

The certificate files are read once, when the gateway is made, so a wrong path or
a key that does not match its certificate is a clear error before anything listens.
The HTTP side gets an ``ssl.SSLContext`` (each connection's handshake happens in
its own worker thread, with a timeout); the gRPC side gets server credentials
from the same files.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["TlsFiles", "TlsSetupError", "grpc_credentials", "http_context"]


class TlsSetupError(ValueError):
    """The TLS options are incomplete or their files cannot be used."""


@dataclass(frozen=True)
class TlsFiles:
    """The server's certificate chain and key (PEM), and optionally the CA that signs
    the clients' certificates (then every client must present one)."""

    cert: str
    key: str
    client_ca: str | None = None

    @classmethod
    def from_options(
        cls, cert: str | None, key: str | None, client_ca: str | None
    ) -> TlsFiles | None:
        """The files, None for plain TCP; incomplete combinations are refused."""
        if cert is None and key is None:
            if client_ca is not None:
                raise TlsSetupError("--client-ca needs --tls-cert and --tls-key")
            return None
        if cert is None or key is None:
            raise TlsSetupError("TLS needs both --tls-cert and --tls-key")
        return cls(cert, key, client_ca)


def http_context(files: TlsFiles) -> ssl.SSLContext:
    """A server context, TLS 1.2 or later; client certificates required with a CA."""
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(files.cert, files.key)
    except (OSError, ssl.SSLError) as exc:
        raise TlsSetupError(
            f"cannot use the certificate {files.cert} with the key {files.key}: {_reason(exc)}"
        ) from None
    if files.client_ca is not None:
        try:
            context.load_verify_locations(cafile=files.client_ca)
        except (OSError, ssl.SSLError) as exc:
            raise TlsSetupError(
                f"cannot use the client CA {files.client_ca}: {_reason(exc)}"
            ) from None
        context.verify_mode = ssl.CERT_REQUIRED
    return context


def grpc_credentials(files: TlsFiles) -> Any:
    """``grpc.ssl_server_credentials`` from the same files (client auth with a CA)."""
    import grpc  # type: ignore[import-not-found,import-untyped,unused-ignore]

    key, cert = _read(files.key), _read(files.cert)
    ca = _read(files.client_ca) if files.client_ca is not None else None
    return grpc.ssl_server_credentials(
        [(key, cert)], root_certificates=ca, require_client_auth=ca is not None
    )


def _read(path: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise TlsSetupError(f"cannot read {path}: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return getattr(exc, "strerror", None) or getattr(exc, "reason", None) or str(exc)
