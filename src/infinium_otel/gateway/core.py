"""The gateway's one pipeline, shared by both transports: decode, admit (or answer
with backpressure), group by trace, hand whole traces to the exporter.

The HTTP and gRPC servers only read bodies and write answers; everything they
agree on (limits, counters, the token, when to refuse) lives here.
"""

from __future__ import annotations

import hmac
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import NamedTuple

from google.protobuf.message import Message

from infinium_otel.export.exporter import InfiniumSpanExporter
from infinium_otel.gateway.decode import DecodeCache, DecodeLimits, decode_request
from infinium_otel.gateway.grouper import HeldTrace, TraceGrouper

__all__ = ["Admission", "GatewayOptions", "Pipeline"]

_log = logging.getLogger("infinium_otel.gateway")

# The hand-over thread looks for quiet traces at least this often, and sleeps until
# the next one is due, but never less than ``MIN_TICK`` (traces due together go together).
TICK = 0.1
MIN_TICK = 0.01
# A request waiting for room is woken when the exporter's delivery takes a run out of
# its backlog, or the hand-over frees held spans; it also looks again this often, for
# room that frees without a signal (spans leaving the exporter's own buffer).
ROOM_RECHECK = 0.1


@dataclass(frozen=True)
class GatewayOptions:
    """Where the gateway listens and how much it holds; every bound has a default."""

    host: str = "127.0.0.1"
    http_port: int = 4318
    grpc_port: int | None = 4317  # None: no gRPC; 0: a free port
    token: str | None = field(default=None, repr=False)
    tls_cert: str | None = None  # PEM certificate chain: both listeners speak TLS
    tls_key: str | None = None  # its PEM private key
    client_ca: str | None = None  # PEM CA: clients must present a certificate it signed
    handshake_timeout: float = 5.0
    wait: float = 1.0
    orphan_wait: float = 10.0
    max_body_bytes: int = 16 * 1024 * 1024
    read_timeout: float = 10.0
    max_concurrent_requests: int = 64
    grpc_workers: int = 8
    max_traces: int = 10_000
    max_spans_per_trace: int = 10_000
    max_held_bytes: int = 256 * 1024 * 1024
    max_held_spans: int = 200_000
    retry_after_seconds: int = 1
    # A request that finds the gateway full waits up to this long for room before it is
    # answered 429: room frees within milliseconds as runs are delivered, while
    # ``Retry-After`` can only say whole seconds, and a client sleeping that second
    # leaves the gateway idle. 0 answers 429 at once.
    admission_wait: float = 1.0
    limits: DecodeLimits = field(default_factory=DecodeLimits)


class Admission(NamedTuple):
    """What became of one request's spans (a named tuple: made for every request, and
    a frozen dataclass's construction costs several times a tuple's)."""

    accepted: int = 0
    rejected: int = 0
    message: str = ""
    busy: bool = False
    closing: bool = False


class Pipeline:
    """Decode, admit, group, hand over; counts everything it does."""

    def __init__(self, exporter: InfiniumSpanExporter, options: GatewayOptions) -> None:
        self.exporter = exporter
        self.options = options
        self.grouper = TraceGrouper(
            wait=options.wait,
            orphan_wait=max(options.orphan_wait, options.wait),
            max_traces=options.max_traces,
            max_spans_per_trace=options.max_spans_per_trace,
            max_bytes=options.max_held_bytes,
            max_spans=options.max_held_spans,
        )
        self._decode_cache = DecodeCache()
        self._admit_lock = threading.Lock()
        self._export_lock = threading.Lock()
        self._count_lock = threading.Lock()
        self._counts: dict[str, int] = {
            "requests": 0,
            "requests_malformed": 0,
            "requests_unauthorized": 0,
            "requests_too_large": 0,
            "requests_unsupported": 0,
            "requests_failed": 0,
            "tls_handshakes_failed": 0,
            "backpressure_answers": 0,
            "requests_waited_for_room": 0,
            "spans_received": 0,
            "spans_rejected": 0,
            "spans_refused_busy": 0,
            "attributes_cut": 0,
            "values_cut": 0,
            "events_cut": 0,
            "links_cut": 0,
            "hand_over_errors": 0,
        }
        self._room_lock = threading.Lock()  # held by the one request looking for room
        self._room_freed = threading.Event()  # set when room may have freed, while one waits
        self._stop = threading.Event()
        self._closing = False
        self._thread: threading.Thread | None = None
        exporter.add_room_listener(self._signal_room)

    # -- admission -------------------------------------------------------

    def authorized(self, presented: str | None) -> bool:
        """Whether the request carries the bearer token (always, when none is set)."""
        token = self.options.token
        if token is None:
            return True
        expected = f"Bearer {token}".encode()
        return hmac.compare_digest((presented or "").strip().encode(), expected)

    def receive(self, request: Message) -> Admission:
        """Take one request's spans, or refuse them all when full (the client retries).

        When full, the request waits up to ``admission_wait`` for room before it is
        refused: its spans are either all accepted or all refused, never some."""
        decoded = decode_request(request, self.options.limits, self._decode_cache)
        spans = decoded.spans
        deadline: float | None = None
        while True:
            with self._admit_lock:
                if self._closing:
                    self.count(spans_refused_busy=len(spans) + decoded.rejected)
                    return Admission(busy=True, closing=True, message="gateway is shutting down")
                if self._has_room(len(spans)):
                    early = self.grouper.add_batches(decoded.batches, time.monotonic())
                    break
            if deadline is None:
                deadline = time.monotonic() + self.options.admission_wait
            if not self._wait_for_room(len(spans), deadline):
                if self._stop.is_set():
                    continue  # closing (set after ``_closing``): answered as such, above
                self.count(
                    backpressure_answers=1,
                    spans_refused_busy=len(spans) + decoded.rejected,
                )
                return Admission(busy=True, message="gateway is full; retry later")
        with self._count_lock:  # ``count`` of these, without a keyword dict per request
            counts = self._counts
            counts["requests_waited_for_room"] += deadline is not None
            counts["spans_received"] += len(spans) + decoded.rejected
            counts["spans_rejected"] += decoded.rejected
            counts["attributes_cut"] += decoded.attributes_cut
            counts["values_cut"] += decoded.values_cut
            counts["events_cut"] += decoded.events_cut
            counts["links_cut"] += decoded.links_cut
        for group in early:
            self._hand_over(group)
        return Admission(
            accepted=len(spans), rejected=decoded.rejected, message=decoded.error_message
        )

    def _has_room(self, spans: int) -> bool:
        return self.grouper.has_room(spans) and not self._downstream_full()

    def _wait_for_room(self, spans: int, deadline: float) -> bool:
        """Whether room for ``spans`` appeared before ``deadline`` (or the gateway closes).

        One waiting request looks each time room may have freed (``_signal_room``: a run
        left the delivery backlog, or held traces were handed over) and at least every
        ``ROOM_RECHECK`` seconds; the others wait for its turn without spinning, and each
        looks at once when its turn comes, so when room for several frees together they
        go in one after another. Room seen here is taken under the admission lock by the
        caller, so a request arriving meanwhile may take it first (then it waits on)."""
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not self._room_lock.acquire(timeout=remaining):
            return False
        freed = self._room_freed
        try:
            while not self._stop.is_set():
                freed.clear()  # before looking: room freed after the look sets it again
                if self._has_room(spans):
                    return True
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                freed.wait(min(remaining, ROOM_RECHECK))
            return False  # closing
        finally:
            self._room_lock.release()

    def _signal_room(self) -> None:
        """Room may have freed: wake the request looking for it, when one is. Called on the
        exporter's delivery threads under its lock, so it only sets an event. A waiter
        takes ``_room_lock`` before it looks, so a signal skipped here came before that
        look, which then sees the room."""
        if self._room_lock.locked():
            self._room_freed.set()

    def count_request(self) -> None:
        """``count(requests=1)``, without a keyword dict: once for every request."""
        with self._count_lock:
            self._counts["requests"] += 1

    def count(self, **amounts: int) -> None:
        with self._count_lock:
            for key, amount in amounts.items():
                self._counts[key] = self._counts.get(key, 0) + amount

    def _downstream_full(self) -> bool:
        """Accepting more could overflow the exporter's own bounds.

        Every trace held here becomes (at least) one run in the delivery queue, so
        held traces count against the queue's room: accepting past it would let the
        queue drop the oldest run, which is a loss the client never hears of.
        """
        settings = self.exporter.settings
        buffered, pending = self.exporter.backlog()
        return (
            buffered + self.grouper.held_spans >= settings.max_buffered_spans
            or pending + self.grouper.held_traces >= settings.max_queued_payloads
        )

    # -- hand-over --------------------------------------------------------

    def start(self) -> None:
        self._thread = threading.Thread(
            target=self._run, name="infinium-gateway-hand-over", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        """Hand traces over as they become due, not up to a tick late: the delivery
        starts sooner and gets them a few at a time instead of in bursts."""
        interval = min(TICK, self.options.wait / 4)
        pause = interval
        while not self._stop.wait(pause):
            due = self.grouper.due(time.monotonic())
            for group in due:
                self._hand_over(group)
            if due:
                self._signal_room()  # held spans and bytes freed in the grouper
            upcoming = self.grouper.next_due
            pause = interval
            if upcoming is not None:
                pause = min(interval, max(MIN_TICK, upcoming - time.monotonic()))

    def _hand_over(self, trace: HeldTrace) -> None:
        try:
            with self._export_lock:
                self.exporter.export(trace, sizes=trace.sizes)
        except Exception:  # the exporter never raises; if it did, count it, keep serving
            self.count(hand_over_errors=1)
            _log.exception("Infinium gateway: handing a trace to the exporter failed")

    def close(self, timeout: float) -> bool:
        """Hand over every held trace, then shut the exporter down; True when all delivered."""
        deadline = time.monotonic() + max(0.0, timeout)
        with self._admit_lock:  # from here on requests are answered "busy", none are lost
            self._closing = True
        self._stop.set()
        self._room_freed.set()  # a request waiting for room is answered "closing" now
        if self._thread is not None:
            self._thread.join(max(0.0, min(2.0, deadline - time.monotonic())))
        for group in self.grouper.drain():
            self._hand_over(group)
        return self.exporter.shutdown_report(max(0.0, deadline - time.monotonic()))

    # -- self-telemetry ---------------------------------------------------

    def stats(self) -> dict[str, int]:
        """The exporter's counters and the gateway's own (``gateway_*``)."""
        result = dict(self.exporter.stats())
        with self._count_lock:
            result.update({f"gateway_{k}": v for k, v in self._counts.items()})
        grouper = self.grouper
        result.update({f"gateway_{k}": v for k, v in vars(grouper.stats).items()})
        result["gateway_traces_held"] = grouper.held_traces
        result["gateway_spans_held"] = grouper.held_spans
        result["gateway_bytes_held"] = grouper.held_bytes
        return result
