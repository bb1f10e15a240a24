"""``infinium-otel sandbox`` / ``python -m infinium_otel.sandbox``: serve until interrupted."""

from __future__ import annotations

import argparse
import logging
import sqlite3
import sys
import threading

from infinium_otel.cli.arguments import Parser, non_negative_seconds, port, stderr_line
from infinium_otel.cli.stopping import install_stop_handlers, restore_handlers
from infinium_otel.sandbox.server import SANDBOX_AGENT_ID, SANDBOX_AGENT_SECRET, Sandbox

_PROG = "infinium-otel sandbox"


def _parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog=_PROG,
        description="Run a local Infinium-compatible server for demos and tests.",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (loopback only)")
    parser.add_argument("--port", type=port, default=8765, help="port (0 picks a free one)")
    parser.add_argument(
        "--db",
        default=":memory:",
        help="SQLite file that keeps traces across restarts (default: in memory)",
    )
    parser.add_argument(
        "--delay",
        type=non_negative_seconds,
        default=3.0,
        help="seconds after acceptance until an interpretation is ready",
    )
    parser.add_argument(
        "--not-ready-status",
        type=int,
        choices=(200, 404),
        default=404,
        help="answer for an interpretation that is not ready yet",
    )
    parser.add_argument("--agent-id", default=SANDBOX_AGENT_ID, help="agent id to accept")
    parser.add_argument(
        "--agent-secret", default=SANDBOX_AGENT_SECRET, help="agent secret to accept"
    )
    parser.add_argument(
        "--allow-remote",
        action="store_true",
        help="allow a non-loopback --host (anyone who can reach it can send traces)",
    )
    parser.add_argument("--verbose", action="store_true", help="log every request to stderr")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Start the sandbox, print how to point a client at it, serve until SIGINT/SIGTERM."""
    args = _parser().parse_args(argv)
    if args.verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(message)s"))
        log = logging.getLogger("infinium_otel.sandbox")
        log.addHandler(handler)
        log.setLevel(logging.DEBUG)
    try:
        sandbox = Sandbox(
            host=args.host,
            port=args.port,
            db=args.db,
            agent_id=args.agent_id,
            agent_secret=args.agent_secret,
            interpretation_delay=args.delay,
            not_ready_status=args.not_ready_status,
            allow_remote=args.allow_remote,
        )
    except ValueError as exc:
        stderr_line(_PROG, str(exc))
        return 2
    except (sqlite3.Error, OSError) as exc:
        stderr_line(_PROG, f"cannot use --db {args.db}: {exc} (it must be a SQLite file or new)")
        return 1
    try:
        sandbox.start()
    except (OSError, OverflowError) as exc:
        stderr_line(_PROG, f"cannot listen on {args.host}:{args.port}: {exc}")
        sandbox.close()
        return 1

    stop = threading.Event()
    previous = install_stop_handlers(stop)
    try:
        print(f"infinium-otel sandbox listening on {sandbox.url}", flush=True)
        print(f"Received traces: {sandbox.root_url}", flush=True)
        print("Point a client at it with:", flush=True)
        print(f"INFINIUM_BASE_URL={sandbox.url}", flush=True)
        print(f"INFINIUM_AGENT_ID={sandbox.agent_id}", flush=True)
        print(f"INFINIUM_AGENT_SECRET={sandbox.agent_secret}", flush=True)
        print("Press Ctrl+C to stop.", flush=True)
        while not stop.wait(0.5):
            pass
    finally:
        restore_handlers(previous)
        sandbox.close()
    print("infinium-otel sandbox stopped", flush=True)
    return 0


if __name__ == "__main__":  # ``python -m infinium_otel.cli.sandbox``
    raise SystemExit(main())
