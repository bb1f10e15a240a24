"""A call's route: the request of one method prepared once and reused for a second.

``requests`` re-reads the environment (proxies, CA bundle, netrc) and rebuilds
the request on every call, which costs far more CPU than the call itself. A
route holds what that preparation gives (headers with any netrc auth, the
environment's settings, the request line's target) for
``ENVIRONMENT_REFRESH_SECONDS``; with no proxy it also holds the request head's
pieces and the adapter's connection pool, so ``exchange`` writes the call
itself. The transport decides when a route serves and makes the call.
"""

from __future__ import annotations

import dataclasses
import http.client
import types
from collections.abc import Callable, MutableMapping
from typing import Any

import requests
import urllib3.connection
import urllib3.util
from requests.cookies import extract_cookies_to_jar as _untyped_extract_cookies

from infinium_otel.client.http1 import host_header, request_head
from infinium_otel.client.watchdog import WatchedAdapter
from infinium_otel.client.wire import Request
from infinium_otel.errors import InfiniumError

__all__ = [
    "ENVIRONMENT_REFRESH_SECONDS",
    "CallRoute",
    "DirectHead",
    "direct_pool",
    "extract_cookies",
    "fits",
    "keep_cookies",
    "prepare_route",
    "with_body",
]

# How old the environment's proxy, CA bundle and netrc settings may be for a call.
ENVIRONMENT_REFRESH_SECONDS = 1.0

# The direct path takes a connection from the adapter's pool through the API of
# requests >= 2.32.2 and urllib3 2; with older ones every call goes through ``send``.
_POOL_API = hasattr(requests.adapters.HTTPAdapter, "get_connection_with_tls_context") and hasattr(
    urllib3.connection.HTTPConnection, "is_closed"
)

# What ``Session.send`` does with every answer: keep the cookies it sets.
extract_cookies: Callable[[Any, Any, Any], None] = _untyped_extract_cookies


@dataclasses.dataclass(frozen=True)
class DirectHead:
    """A route's request head around its target and length, for ``exchange``."""

    host: str  # the Host header, first
    before: str  # the header lines before Content-Length (all of them for a GET)
    after: str  # the header lines after it (a netrc Authorization)
    has_length: bool

    def __repr__(self) -> str:  # its lines hold the agent secret
        return f"DirectHead(host={self.host!r})"


@dataclasses.dataclass(frozen=True)
class CallRoute:
    """The calls of one method prepared once: headers (with any netrc auth), the environment's
    settings, and the request line's target up to the call's path.

    ``requests`` re-reads the environment (proxies, CA bundle, netrc) and rebuilds
    the request on every call, which costs far more CPU than the call itself;
    a route is reused for ``ENVIRONMENT_REFRESH_SECONDS`` instead. With no proxy
    (``direct``) a call is written and read by ``exchange`` on a connection of
    the adapter's pool; through a proxy it goes through the adapter's ``send``.
    """

    session: requests.Session
    method: str
    url: str
    template: requests.PreparedRequest
    headers: dict[str, str]
    target: str
    prefix: str | None  # ``target`` less the call's path: the same for every path
    proxies: MutableMapping[str, str]
    verify: bool | str
    cert: Any
    direct: DirectHead | None
    made: float
    # The direct path's adapter and pool, with the session's adapters they came from.
    pool: list[tuple[tuple[tuple[str, Any], ...], WatchedAdapter, Any]] = dataclasses.field(
        default_factory=list
    )

    def __repr__(self) -> str:  # its headers hold the agent secret
        return f"CallRoute({self.method} {self.url})"

    def target_for(self, url: str, path: str) -> str | None:
        """The request line's target for ``url`` (``path`` below the base URL), if known."""
        if url == self.url:
            return self.target
        return None if self.prefix is None else self.prefix + path


def prepare_route(
    session: requests.Session,
    request: Request,
    url: str,
    headers: dict[str, str],
    verify: bool | str,
    now: float,
) -> CallRoute:
    """The route of ``request``'s method on ``session``, prepared afresh (made at ``now``)."""
    template = session.prepare_request(requests.Request(request.method, url, headers=headers))
    settings = session.merge_environment_settings(url, {}, True, verify, None)
    adapter = session.get_adapter(url)
    proxies = settings["proxies"]
    target = (
        adapter.request_url(template, proxies)
        if isinstance(adapter, requests.adapters.HTTPAdapter)
        else template.path_url
    )
    direct = None
    if (
        _POOL_API
        and isinstance(adapter, WatchedAdapter)
        and not requests.utils.select_proxy(url, proxies)
    ):
        direct = _direct_head(template, url)
    route = CallRoute(
        session=session,
        method=request.method,
        url=url,
        template=template,
        headers=dict(template.headers),
        target=target,
        prefix=target[: -len(request.path)] if target.endswith(request.path) else None,
        proxies=proxies,
        verify=True if settings["verify"] is None else settings["verify"],
        cert=settings["cert"],
        direct=direct,
        made=now,
    )
    return route


def with_body(route: CallRoute, url: str, body: Any) -> requests.PreparedRequest:
    """The route's request for ``url`` with ``body``: what ``copy()`` and ``prepare_body()``
    make, for less.

    ``copy()`` also copies the cookie jar, which matters nowhere here (routes
    serve only while the session holds no cookie); for a body in bytes
    ``prepare_body`` only sets it and its ``Content-Length``. The headers are a
    plain dict with the names as prepared (urllib3 compares them lower-cased
    itself, and iterates a plain dict for less than a case-insensitive one).
    """
    template = route.template
    if not isinstance(body, bytes) or not body:
        prepared = template.copy()
        prepared.url = url
        prepared.prepare_body(body, None)
        return prepared
    prepared = requests.PreparedRequest()
    prepared.method = template.method
    prepared.url = url
    headers = route.headers.copy()
    headers["Content-Length"] = str(len(body))
    prepared.headers = headers  # type: ignore[assignment]
    prepared.body = body
    prepared.hooks = template.hooks
    return prepared


def _direct_head(template: requests.PreparedRequest, url: str) -> DirectHead | None:
    """The head pieces ``http.client`` would write for ``template``, or None when a header,
    the host or the target is one it would refuse or write differently."""
    parts = urllib3.util.parse_url(url)
    host = parts.host or ""
    if not host.isascii() or "%" in host or host.endswith("."):
        return None
    default_port = 443 if parts.scheme == "https" else 80
    written = request_head(
        str(template.method),
        template.path_url,
        host_header(host.strip("[]"), parts.port, default_port),
        template.headers.items(),
    )
    if written is None:
        return None
    lines = written.decode("ascii").split("\r\n")[1:-2]
    host_line, fields = lines[0], lines[1:]
    names = [line.split(":", 1)[0].lower() for line in fields]
    if "user-agent" not in names or "accept-encoding" not in names or "host" in names:
        return None  # urllib3 or http.client would add or drop one of them
    has_length = "content-length" in names
    cut = names.index("content-length") if has_length else len(fields)
    return DirectHead(
        host=host_line.split(": ", 1)[1],
        before="".join(f"{line}\r\n" for line in fields[:cut]),
        after="".join(f"{line}\r\n" for line in fields[cut + 1 :]),
        has_length=has_length,
    )


def direct_pool(route: CallRoute) -> tuple[WatchedAdapter, Any]:
    """The adapter the session has for the route's URL and its connection pool for the route.

    Remembered on the route while the session's adapters are the same ones in the
    same order (so ``get_adapter`` would give the same) and the pool is open (a
    closed pool, after the adapter's ``close`` or its manager's eviction, is asked
    for afresh, as the adapter itself does).
    """
    adapters = tuple(route.session.adapters.items())
    if route.pool:
        known, adapter, pool = route.pool[0]
        if known == adapters and pool.pool is not None:
            return adapter, pool
    found = route.session.get_adapter(route.url)
    if not isinstance(found, WatchedAdapter):  # a route is direct only on ours
        raise InfiniumError("the session's adapter changed")
    pool = found.get_connection_with_tls_context(
        route.template, route.verify, route.proxies, route.cert
    )
    route.pool[:] = [(adapters, found, pool)]
    return found, pool


def fits(direct: DirectHead, body: bytes | None) -> bool:
    """A body goes out with a ``Content-Length`` (none for a GET without one)."""
    return direct.has_length or not body


def keep_cookies(route: CallRoute, url: str, fields: tuple[tuple[str, str], ...]) -> None:
    """Keep the cookies an answer sets in the session's jar, as ``Session.send`` would."""
    message = http.client.HTTPMessage()
    for name, value in fields:
        message[name] = value
    request = route.template.copy()
    request.url = url
    original = types.SimpleNamespace(msg=message)
    extract_cookies(
        route.session.cookies, request, types.SimpleNamespace(_original_response=original)
    )
