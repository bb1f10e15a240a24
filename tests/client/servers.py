"""Small real loopback servers that are not Infinium: file servers, web apps, slow and echoing ones.

Each runs on 127.0.0.1 on a free port in a daemon thread and is stopped by its
context manager. ``RawServer`` writes bytes straight to the socket, for
answers no HTTP framework would send (a trickle, an echo of our headers).
"""

from __future__ import annotations

import contextlib
import functools
import socket
import ssl
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

AGENT_ID = "00000000-0000-4000-8000-0000000000aa"


class _Quiet(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: object) -> None:
        return None


@contextlib.contextmanager
def _serve(
    handler: type[BaseHTTPRequestHandler] | Callable[..., BaseHTTPRequestHandler],
) -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)  # type: ignore[arg-type]
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@contextlib.contextmanager
def static_files(directory: Path) -> Iterator[str]:
    """``http.server``'s own file server on ``directory`` (it answers 404 text/html)."""

    class Files(SimpleHTTPRequestHandler):
        disable_nagle_algorithm = True

        def log_message(self, format: str, *args: object) -> None:
            return None

    with _serve(functools.partial(Files, directory=str(directory))) as url:
        yield url


@contextlib.contextmanager
def html_everywhere(status: int) -> Iterator[str]:
    """A web app answering ``status`` with an HTML page to every path (a single-page app)."""

    class Pages(_Quiet):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            page = b"<!doctype html><html><body><div id=app>Loading</div></body></html>"
            self.send_response(status)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        do_GET = _answer
        do_POST = _answer

    with _serve(Pages) as url:
        yield url


@contextlib.contextmanager
def answering(status: int, body: bytes, content_type: str) -> Iterator[str]:
    """A server answering every request with one fixed status, body and content type."""

    class Fixed(_Quiet):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = _answer
        do_POST = _answer

    with _serve(Fixed) as url:
        yield url


@contextlib.contextmanager
def echoing_headers(
    status: int, render: Callable[[dict[str, str]], bytes], content_type: str
) -> Iterator[str]:
    """An error page that echoes the request headers, rendered by ``render``."""

    class Echo(_Quiet):
        def _answer(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            if length:
                self.rfile.read(length)
            page = render(dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(page)))
            self.end_headers()
            self.wfile.write(page)

        do_GET = _answer
        do_POST = _answer

    with _serve(Echo) as url:
        yield url


def free_port() -> int:
    """A loopback port on which nothing listens (bound, then released)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


_Listener = TypeVar("_Listener", bound="LoopbackListener")


class LoopbackListener:
    """Accepts connections on 127.0.0.1 and hands each to ``_talk`` in its own thread.

    Over TLS when ``tls`` (a server context) is given; ``close`` stops accepting
    and tells the talking threads to stop.
    """

    def __init__(self, tls: ssl.SSLContext | None = None) -> None:
        self.tls = tls
        self.connections = 0
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self._listener.settimeout(0.2)
        scheme = "https" if tls is not None else "http"
        self.url = f"{scheme}://127.0.0.1:{self._listener.getsockname()[1]}"
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except OSError:
                continue
            with self._lock:
                self.connections += 1
            threading.Thread(target=self._talk, args=(conn,), daemon=True).start()

    def _talk(self, conn: socket.socket) -> None:
        raise NotImplementedError

    def close(self) -> None:
        self._stop.set()
        self._listener.close()
        self._thread.join(timeout=5.0)

    def __enter__(self: _Listener) -> _Listener:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class RawServer(LoopbackListener):
    """Writes ``head`` at once on each connection, then ``trickle`` one byte per ``every`` s.

    It stops writing when closed.
    """

    def __init__(
        self, head: bytes, trickle: bytes, every: float = 0.5, tls: ssl.SSLContext | None = None
    ) -> None:
        self.head = head
        self.trickle = trickle
        self.every = every
        super().__init__(tls)

    def _talk(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5.0)
            try:
                if self.tls is not None:
                    conn = self.tls.wrap_socket(conn, server_side=True)
                _read_request(conn)
                conn.sendall(self.head)
                for byte in self.trickle:
                    if self._stop.wait(self.every):
                        return
                    conn.sendall(bytes([byte]))
                self._stop.wait(30.0)
            except OSError:
                return


def _read_request(conn: socket.socket) -> None:
    """Read one request's head and its ``Content-Length`` body."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    while len(rest) < length:
        chunk = conn.recv(65536)
        if not chunk:
            return
        rest += chunk


def run_watched(
    call: Callable[[], object], limit: float
) -> tuple[object, BaseException | None, float]:
    """Run ``call`` in a daemon thread: its result, error and duration.

    Fails (instead of hanging) when the call outlives ``limit`` seconds.
    """
    box: dict[str, object] = {}
    started = time.monotonic()

    def target() -> None:
        try:
            box["result"] = call()
        except BaseException as error:
            box["error"] = error
        box["took"] = time.monotonic() - started

    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    thread.join(limit)
    assert not thread.is_alive(), f"the call was still running after {limit:g} s"
    error = box.get("error")
    return (
        box.get("result"),
        error if isinstance(error, BaseException) else None,
        float(box["took"]),
    )  # type: ignore[arg-type]
