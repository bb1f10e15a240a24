"""One HTTP attempt against the Infinium API, and what its failure was.

``Transport`` owns the ``requests.Session`` (connection reuse) and makes exactly
one request per call: no redirects, TLS verified, proxies from the environment,
our own instrumentation suppressed, and one overall deadline per attempt (see
``watchdog``) however slowly the answer arrives. ``answers.map_response`` reads
the answer; ``failures`` says what a failure to get one was (a refused
connection is never called a timeout). No request header (so never the agent
secret) reaches a message, a log line, ``details`` or the frames of a raised
error: chained library errors lose their tracebacks and their request.
"""

from __future__ import annotations

import dataclasses
import http.client
import logging
import os
import time
import types
from collections.abc import Callable, MutableMapping
from typing import Any, cast

import requests
import urllib3.connection
import urllib3.exceptions
import urllib3.util
from requests.cookies import extract_cookies_to_jar as _untyped_extract_cookies

from infinium_otel._suppress import instrumentation_suppressed
from infinium_otel.client.answers import map_response
from infinium_otel.client.exchange import AnswerOverdue, AnswerTooLarge, exchange
from infinium_otel.client.failures import network_error, scrubbed, too_large, trickled
from infinium_otel.client.http1 import host_header, request_head
from infinium_otel.client.redact import Redactor
from infinium_otel.client.response import ApiResponse
from infinium_otel.client.watchdog import AttemptWatch, WatchedAdapter, lean_answer, watching
from infinium_otel.client.wire import (
    CREDENTIALS,
    INTERPRETATION,
    TRACE,
    USER_AGENT,
    RawResponse,
    Request,
    validate_path_id,
)
from infinium_otel.errors import InfiniumError

__all__ = [
    "CREDENTIALS",
    "INTERPRETATION",
    "MAX_RESPONSE_BYTES",
    "TRACE",
    "USER_AGENT",
    "RawResponse",
    "Request",
    "Transport",
    "map_response",
    "validate_path_id",
]

logger = logging.getLogger("infinium_otel.client")

MAX_RESPONSE_BYTES = 8 * 1_048_576
# How old the environment's proxy, CA bundle and netrc settings may be for a call.
ENVIRONMENT_REFRESH_SECONDS = 1.0
_CHUNK_BYTES = 65_536

# The direct path takes a connection from the adapter's pool through the API of
# requests >= 2.32.2 and urllib3 2; with older ones every call goes through ``send``.
_POOL_API = hasattr(requests.adapters.HTTPAdapter, "get_connection_with_tls_context") and hasattr(
    urllib3.connection.HTTPConnection, "is_closed"
)

_CertVerify = Callable[[Any, str, "bool | str", Any], None]

# What ``Session.send`` does with every answer: keep the cookies it sets.
_extract_cookies: Callable[[Any, Any, Any], None] = _untyped_extract_cookies


@dataclasses.dataclass(frozen=True)
class _Direct:
    """A route's request head around its target and length, for ``exchange``."""

    host: str  # the Host header, first
    before: str  # the header lines before Content-Length (all of them for a GET)
    after: str  # the header lines after it (a netrc Authorization)
    has_length: bool

    def __repr__(self) -> str:  # its lines hold the agent secret
        return f"_Direct(host={self.host!r})"


@dataclasses.dataclass(frozen=True)
class _Route:
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
    direct: _Direct | None
    made: float
    # The direct path's adapter and pool, with the session's adapters they came from.
    pool: list[tuple[tuple[tuple[str, Any], ...], WatchedAdapter, Any]] = dataclasses.field(
        default_factory=list
    )

    def __repr__(self) -> str:  # its headers hold the agent secret
        return f"_Route({self.method} {self.url})"

    def target_for(self, url: str, path: str) -> str | None:
        """The request line's target for ``url`` (``path`` below the base URL), if known."""
        if url == self.url:
            return self.target
        return None if self.prefix is None else self.prefix + path


class Transport:
    """One ``requests.Session`` and the headers every call carries."""

    def __init__(
        self,
        *,
        base_url: str,
        agent_id: str,
        secret: str,
        verify: bool | str = True,
    ) -> None:
        self._base_url = base_url
        self._redactor = Redactor(secret)
        self._verify = verify
        self._headers = {
            "x-agent-id": agent_id,
            "x-agent-key": secret,
            "Content-Type": "application/json",
            "Accept": "application/json",
            "User-Agent": USER_AGENT,
        }
        del secret
        self._session: requests.Session | None = None
        self._routes: dict[str, _Route] = {}
        self._pid = os.getpid()
        self._closed = False

    def __repr__(self) -> str:
        return f"Transport(base_url={self._base_url!r})"

    def _get_session(self) -> requests.Session:
        if self._closed:
            raise InfiniumError("the client is closed")
        if self._session is None or self._pid != os.getpid():
            # A session inherited across fork shares sockets with the parent: start afresh.
            session = requests.Session()
            adapter = WatchedAdapter()
            session.mount("https://", adapter)
            session.mount("http://", adapter)
            self._session = session
            self._routes = {}
            self._pid = os.getpid()
        return self._session

    def close(self) -> None:
        self._closed = True
        self._routes = {}
        session, self._session = self._session, None
        if session is not None and self._pid == os.getpid():
            session.close()

    @property
    def closed(self) -> bool:
        return self._closed

    def perform(self, request: Request, timeout: float) -> ApiResponse:
        """Make one attempt and map its answer (raises the matching ``InfiniumError``).

        The error is raised afresh from here once the raw answer is dropped: a
        server may echo our headers, and error reporters show frames' locals.
        """
        raw = self.send(request, timeout)
        try:
            return map_response(request, raw, secret=self._redactor, base_url=self._base_url)
        except InfiniumError as error:
            del raw
            raise error.with_traceback(None) from error.__cause__

    def send(self, request: Request, timeout: float) -> RawResponse:
        """One HTTP request, its body read up to ``MAX_RESPONSE_BYTES``, all within ``timeout``.

        Errors are raised from this frame, whose locals hold no request headers.
        """
        session = self._get_session()
        failure: InfiniumError | None = None
        cause: BaseException | None = None
        with watching(time.monotonic() + timeout) as watch:
            try:
                raw = self._exchange(session, request, timeout, watch)
            except InfiniumError as error:
                failure = error
            except (OSError, urllib3.exceptions.HTTPError) as exc:
                failure = network_error(
                    exc,
                    request,
                    timeout,
                    overdue=watch.fired,
                    redactor=self._redactor,
                    base_url=self._base_url,
                )
                cause = scrubbed(exc)
        if failure is not None:
            raise failure.with_traceback(None) from cause
        return raw

    def _exchange(
        self, session: requests.Session, request: Request, timeout: float, watch: AttemptWatch
    ) -> RawResponse:
        url = self._base_url + request.path
        with instrumentation_suppressed():
            route = None if len(session.cookies) else self._route_for(session, request, url)
            target = None if route is None else route.target_for(url, request.path)
            if route is not None and target is not None:
                if route.direct is not None and _fits(route.direct, request.body):
                    return self._send_direct(route, route.direct, request, target, timeout, watch)
                response = self._send_prepared(route, request, url, target, timeout)
            else:
                response = session.request(
                    request.method,
                    url,
                    data=request.body,
                    headers=self._headers,
                    timeout=(timeout, timeout),
                    allow_redirects=False,
                    verify=self._verify,
                    stream=True,
                )
            try:
                body = _read_body(response, request, timeout, watch)
            finally:
                response.close()
        return RawResponse(response.status_code, response.headers, body)

    def _route_for(self, session: requests.Session, request: Request, url: str) -> _Route:
        """The route of ``request``'s method, prepared afresh when old or for another session.

        Only used while the session holds no cookies, so there is no cookie to
        merge into the request; a cookie an answer sets is kept, as the session
        would keep it (and the next call takes ``session.request``).
        """
        route = self._routes.get(request.method)
        now = time.monotonic()
        if (
            route is not None
            and route.session is session
            and 0 <= now - route.made < ENVIRONMENT_REFRESH_SECONDS
            and (route.prefix is not None or route.url == url)
        ):
            return route
        template = session.prepare_request(
            requests.Request(request.method, url, headers=self._headers)
        )
        settings = session.merge_environment_settings(url, {}, True, self._verify, None)
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
        route = _Route(
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
        self._routes[request.method] = route
        return route

    def _send_direct(
        self,
        route: _Route,
        direct: _Direct,
        request: Request,
        target: str,
        timeout: float,
        watch: AttemptWatch,
    ) -> RawResponse:
        """One call written and read by ``exchange`` on a connection of the adapter's pool."""
        adapter, pool = _direct_pool(route)
        # As ``send`` does: the CA bundle (certifi's when verify is True) and client
        # certificate go on the pool, and a missing file is an error.
        cast(_CertVerify, adapter.cert_verify)(pool, route.url, route.verify, route.cert)
        body = request.body or b""
        length = f"Content-Length: {len(body)}\r\n" if direct.has_length else ""
        head = (
            f"{request.method} {target} HTTP/1.1\r\nHost: {direct.host}\r\n"
            f"{direct.before}{length}{direct.after}\r\n"
        ).encode("ascii")
        failure: InfiniumError | None = None
        try:
            status, fields, headers, content = exchange(
                pool, head, body, request.method, timeout, watch.overdue, MAX_RESPONSE_BYTES
            )
        except AnswerTooLarge as large:
            failure = too_large(request, large.status, MAX_RESPONSE_BYTES)
        except AnswerOverdue:
            failure = trickled(request, timeout)
        if failure is not None:
            raise failure  # outside the handler: no context whose frames hold the head
        if "set-cookie" in headers or "set-cookie2" in headers:
            _keep_cookies(route, self._base_url + request.path, fields)
        return RawResponse(status, headers, content)

    def _send_prepared(
        self, route: _Route, request: Request, url: str, target: str, timeout: float
    ) -> requests.Response:
        """What ``session.request`` does for a call, from its route (through a proxy)."""
        prepared = lean_answer(_with_body(route, url, request.body), target)
        session = route.session
        response = session.get_adapter(url).send(
            prepared,
            stream=True,
            timeout=(timeout, timeout),
            verify=route.verify,
            cert=route.cert,
            proxies=route.proxies,
        )
        if "set-cookie" in response.headers or "set-cookie2" in response.headers:
            _extract_cookies(session.cookies, prepared, response.raw)
        return response


def _with_body(route: _Route, url: str, body: Any) -> requests.PreparedRequest:
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


def _direct_head(template: requests.PreparedRequest, url: str) -> _Direct | None:
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
    return _Direct(
        host=host_line.split(": ", 1)[1],
        before="".join(f"{line}\r\n" for line in fields[:cut]),
        after="".join(f"{line}\r\n" for line in fields[cut + 1 :]),
        has_length=has_length,
    )


def _direct_pool(route: _Route) -> tuple[WatchedAdapter, Any]:
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


def _fits(direct: _Direct, body: bytes | None) -> bool:
    """A body goes out with a ``Content-Length`` (none for a GET without one)."""
    return direct.has_length or not body


def _keep_cookies(route: _Route, url: str, fields: tuple[tuple[str, str], ...]) -> None:
    """Keep the cookies an answer sets in the session's jar, as ``Session.send`` would."""
    message = http.client.HTTPMessage()
    for name, value in fields:
        message[name] = value
    request = route.template.copy()
    request.url = url
    original = types.SimpleNamespace(msg=message)
    _extract_cookies(
        route.session.cookies, request, types.SimpleNamespace(_original_response=original)
    )


def _read_body(
    response: requests.Response, request: Request, timeout: float, watch: AttemptWatch
) -> bytes:
    """The body, in chunks, refused past ``MAX_RESPONSE_BYTES`` or past the attempt's deadline."""
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=_CHUNK_BYTES):
        size += len(chunk)
        if size > MAX_RESPONSE_BYTES:
            raise too_large(request, response.status_code, MAX_RESPONSE_BYTES)
        chunks.append(chunk)
        if watch.overdue():
            raise trickled(request, timeout)
    return b"".join(chunks)
