"""Which ``Host`` headers the sandbox answers: its own address only (DNS rebinding defence).

A web page can make a browser send requests to ``127.0.0.1:<port>`` under a name the
page controls (DNS rebinding); the browser then lets the page read the answers. The
browser still sends the page's name in ``Host``, so refusing any ``Host`` that is not
one of the sandbox's own addresses keeps stored payloads on this machine.
"""

from __future__ import annotations

__all__ = ["allowed_hosts", "host_allowed"]

_LOOPBACK_NAMES = ("127.0.0.1", "localhost", "[::1]")


def _bracketed(host: str) -> str:
    host = host.strip().lower()
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def allowed_hosts(bound_host: str, port: int) -> frozenset[str]:
    """The ``Host`` values naming a sandbox bound to ``bound_host``:``port``."""
    names = {*_LOOPBACK_NAMES, _bracketed(bound_host)}
    allowed = {f"{name}:{port}" for name in names}
    if port == 80:
        allowed |= names  # the default port may be left out
    return frozenset(allowed)


def host_allowed(header: str | None, allowed: frozenset[str]) -> bool:
    """True when the request's ``Host`` header is one of ``allowed`` (case-insensitive)."""
    return header is not None and header.strip().lower() in allowed
