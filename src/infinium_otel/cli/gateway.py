"""``infinium-otel gateway``: receive OTLP traces from any language, send whole runs.

Credentials and settings come from ``INFINIUM_*``, as for the exporter; ``--routes``
(or ``INFINIUM_ROUTES``) sends each service's runs as its own agent. The token
may come from ``INFINIUM_GATEWAY_TOKEN`` so it stays out of the process list.
Exits 0 after a graceful stop when every run was delivered, 1 when some were
not, 2 for a mistake in the arguments or settings.
"""

from __future__ import annotations

import argparse
import os
import threading

from infinium_otel.cli.arguments import (
    Parser,
    non_negative_seconds,
    port,
    positive_seconds,
    stderr_line,
)
from infinium_otel.cli.stopping import install_stop_handlers, restore_handlers
from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import MAX_CONCURRENT_SENDS

_PROG = "infinium-otel gateway"
TOKEN_ENV = "INFINIUM_GATEWAY_TOKEN"
TLS_CERT_ENV = "INFINIUM_GATEWAY_TLS_CERT"
TLS_KEY_ENV = "INFINIUM_GATEWAY_TLS_KEY"
CLIENT_CA_ENV = "INFINIUM_GATEWAY_CLIENT_CA"
CONCURRENT_SENDS_ENV = "INFINIUM_MAX_CONCURRENT_SENDS"
# The gateway sends many runs: overlapping the network waits of a few sends pays.
GATEWAY_CONCURRENT_SENDS = 4
QUEUED_PAYLOADS_ENV = "INFINIUM_MAX_QUEUED_PAYLOADS"
# Traces held for grouping count against the delivery queue (so it never drops a run a
# client was told was taken): at 15,000 spans/s a 1 s wait holds about 1,000 runs, which
# would fill the exporter's default of 1,000 and make requests wait for room.
GATEWAY_QUEUED_PAYLOADS = 4_000


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=_PROG,
        description="Receive OTLP traces (HTTP and gRPC), group them by trace into whole "
        "agent runs and send each to Infinium, with the INFINIUM_* settings.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default loopback)")
    parser.add_argument("--http-port", type=port, default=4318, help="OTLP/HTTP port")
    parser.add_argument(
        "--grpc-port", type=port, default=4317, help="OTLP/gRPC port (0 disables gRPC)"
    )
    parser.add_argument(
        "--wait",
        type=positive_seconds,
        default=1.0,
        help="seconds a trace must be quiet before its run is assembled (default 1)",
    )
    parser.add_argument(
        "--orphan-wait",
        type=positive_seconds,
        default=10.0,
        help="seconds a trace whose root span is not here must be quiet (default 10)",
    )
    parser.add_argument(
        "--token",
        default=None,
        help=f"bearer token clients must send (or {TOKEN_ENV}); off loopback this or "
        "--client-ca is required",
    )
    parser.add_argument(
        "--tls-cert",
        default=None,
        help=f"PEM certificate chain: both listeners speak TLS (or {TLS_CERT_ENV})",
    )
    parser.add_argument(
        "--tls-key", default=None, help=f"PEM private key of --tls-cert (or {TLS_KEY_ENV})"
    )
    parser.add_argument(
        "--client-ca",
        default=None,
        help=f"PEM CA: clients must present a certificate it signed, mutual TLS "
        f"(or {CLIENT_CA_ENV})",
    )
    parser.add_argument(
        "--max-held-mib",
        type=_mebibytes,
        default=256,
        help="estimated memory of spans held for grouping before the oldest trace is "
        "handed over early (default 256)",
    )
    parser.add_argument(
        "--routes",
        default=None,
        help="JSON file routing runs to agents by attribute (or INFINIUM_ROUTES)",
    )
    parser.add_argument(
        "--concurrent-sends",
        type=_concurrent_sends,
        default=None,
        help=f"runs sent to Infinium at once (or {CONCURRENT_SENDS_ENV}; "
        f"default {GATEWAY_CONCURRENT_SENDS})",
    )
    parser.add_argument(
        "--admission-wait",
        type=non_negative_seconds,
        default=1.0,
        help="seconds a request that finds the gateway full waits for room before it is "
        "answered 429 (gRPC: UNAVAILABLE); 0 answers at once (default 1)",
    )
    parser.add_argument(
        "--shutdown-timeout",
        type=positive_seconds,
        default=30.0,
        help="seconds to deliver held runs when stopping (default 30)",
    )
    return parser


def _mebibytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number of MiB: {text!r}") from None
    if not 1 <= value <= 1024 * 1024:
        raise argparse.ArgumentTypeError(f"must be 1 to 1048576 MiB, got {value}")
    return value


def _concurrent_sends(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_CONCURRENT_SENDS:
        raise argparse.ArgumentTypeError(f"must be 1 to {MAX_CONCURRENT_SENDS}, got {value}")
    return value


def main(argv: list[str] | None = None) -> int:
    """Serve until SIGINT/SIGTERM, then drain; 0 when every run was delivered."""
    args = _parser().parse_args(argv)
    try:
        from infinium_otel.gateway import Gateway, GatewayOptions
        from infinium_otel.gateway.grpc_server import grpc_available
    except ImportError as exc:
        stderr_line(
            _PROG, f"needs the gateway extra ({exc.name}): pip install 'infinium-otel[gateway]'"
        )
        return 2
    from infinium_otel.export.exporter import InfiniumSpanExporter
    from infinium_otel.settings import Settings

    if args.grpc_port and not grpc_available():
        stderr_line(
            _PROG, "gRPC needs grpcio (pip install 'infinium-otel[gateway]'); serving HTTP only"
        )
    token = args.token or os.environ.get(TOKEN_ENV) or None
    options = GatewayOptions(
        host=args.host,
        http_port=args.http_port,
        grpc_port=args.grpc_port if args.grpc_port and grpc_available() else None,
        token=token,
        tls_cert=args.tls_cert or os.environ.get(TLS_CERT_ENV) or None,
        tls_key=args.tls_key or os.environ.get(TLS_KEY_ENV) or None,
        client_ca=args.client_ca or os.environ.get(CLIENT_CA_ENV) or None,
        wait=args.wait,
        orphan_wait=max(args.orphan_wait, args.wait),
        max_held_bytes=args.max_held_mib * 1024 * 1024,
        admission_wait=args.admission_wait,
    )
    try:
        concurrent = args.concurrent_sends
        if concurrent is None and not os.environ.get(CONCURRENT_SENDS_ENV):
            concurrent = GATEWAY_CONCURRENT_SENDS
        queued = None if os.environ.get(QUEUED_PAYLOADS_ENV) else GATEWAY_QUEUED_PAYLOADS
        settings = Settings.load(
            routes=args.routes, max_concurrent_sends=concurrent, max_queued_payloads=queued
        )
        if settings.disabled:
            stderr_line(_PROG, "INFINIUM_DISABLED is set: the gateway would send nothing")
            return 2
        exporter = InfiniumSpanExporter(settings=settings)
    except ConfigurationError as exc:
        stderr_line(_PROG, str(exc))
        return 2
    try:
        gateway = Gateway(exporter, options)
    except ValueError as exc:
        exporter.shutdown_report(0.0)
        stderr_line(_PROG, str(exc))
        return 2
    try:
        gateway.start()
    except OSError as exc:
        gateway.close(0.0)
        stderr_line(_PROG, f"cannot listen on {args.host}: {exc}")
        return 1
    from infinium_otel.gateway.collection import tune_for_gateway

    tune_for_gateway()
    stop = threading.Event()
    previous = install_stop_handlers(stop)
    try:
        grpc = f", OTLP/gRPC on {args.host}:{gateway.grpc_port}" if gateway.grpc_port else ""
        grpc += " (TLS)" if grpc and options.tls_cert else ""
        print(f"{_PROG}: OTLP/HTTP on {gateway.http_url}/v1/traces{grpc}", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        restore_handlers(previous)
    print(f"{_PROG}: stopping, delivering held runs", flush=True)
    delivered = gateway.close(args.shutdown_timeout)
    stats = gateway.stats()
    print(
        f"{_PROG}: stopped; {stats.get('gateway_spans_received', 0)} spans received, "
        f"{stats.get('delivery_delivered', 0)} runs delivered"
        + ("" if delivered else "; some runs were NOT delivered"),
        flush=True,
    )
    return 0 if delivered else 1
