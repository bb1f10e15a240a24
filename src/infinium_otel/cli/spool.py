"""``infinium-otel spool list|replay|purge``: look at, send, or empty a spool directory.

``replay`` uses the same claims as the exporter's delivery thread, so it can run
while agents are running on the same spool without sending anything twice. A
payload routed to an agent (see ``routing.py``) is sent with that agent's
credentials from ``INFINIUM_ROUTES``; one whose agent has none here is kept.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from typing import TextIO

from infinium_otel.client.agents import AgentClients
from infinium_otel.delivery.attempt import Outcome, send_payload
from infinium_otel.delivery.spool import Spool
from infinium_otel.delivery.spool_files import entry_agent
from infinium_otel.errors import ConfigurationError
from infinium_otel.settings import Settings

__all__ = ["main"]

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_USAGE = 2
EXIT_AUTH = 3


def _age(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    seconds = int(seconds)
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    if seconds < 86_400:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 86_400}d{seconds % 86_400 // 3600:02d}h"


class Progress:
    """A one-line textual bar on a terminal stream: ``[#####-----] 12/40``."""

    def __init__(self, total: int, stream: TextIO, enabled: bool, width: int = 30) -> None:
        self.total = total
        self.stream = stream
        self.enabled = enabled and total > 0
        self.width = width

    def update(self, done: int, note: str = "") -> None:
        if not self.enabled:
            return
        filled = self.width * done // self.total
        bar = "#" * filled + "-" * (self.width - filled)
        self.stream.write(f"\rreplay [{bar}] {done}/{self.total} {note}".rstrip() + " ")
        self.stream.flush()

    def close(self) -> None:
        if self.enabled:
            self.stream.write("\n")
            self.stream.flush()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infinium-otel spool",
        description="Inspect, send or empty the directory of undelivered runs.",
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument(
        "--dir",
        default=os.environ.get("INFINIUM_SPOOL_DIR") or None,
        help="spool directory (default: INFINIUM_SPOOL_DIR)",
    )
    commands = parser.add_subparsers(dest="command", metavar="{list,replay,purge}")
    listing = commands.add_parser("list", parents=[common], help="count and size of the spool")
    listing.add_argument("-v", "--verbose", action="store_true", help="one line per payload")
    replay = commands.add_parser("replay", parents=[common], help="send every spooled payload")
    replay.add_argument(
        "--progress", action="store_true", help="show a progress bar even when not on a terminal"
    )
    replay.add_argument(
        "--timeout", type=float, default=60.0, help="seconds allowed per payload (60)"
    )
    purge = commands.add_parser("purge", parents=[common], help="delete every spooled payload")
    purge.add_argument("--yes", action="store_true", help="really delete (required)")
    return parser


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = _parser()
    args = parser.parse_args(list(argv) if argv is not None else None)
    stdout = out or sys.stdout
    if args.command is None:
        parser.print_help(stdout)
        return EXIT_USAGE
    if not args.dir:
        print(
            "infinium-otel spool: no directory: pass --dir or set INFINIUM_SPOOL_DIR",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if args.command == "purge" and not args.yes:
        print(
            f"infinium-otel spool purge: this deletes every undelivered run in {args.dir};"
            " add --yes to do it",
            file=sys.stderr,
        )
        return EXIT_USAGE
    if not os.path.isdir(args.dir):
        print(f"spool {args.dir}: does not exist (nothing spooled)", file=stdout)
        return EXIT_OK
    try:
        spool = Spool(args.dir, create=False)
    except ConfigurationError as error:
        print(f"infinium-otel spool: {error}", file=sys.stderr)
        return EXIT_USAGE
    if args.command == "list":
        return _list(spool, args.verbose, stdout)
    if args.command == "purge":
        deleted, in_flight = spool.purge()
        busy = f"; {in_flight} being sent by a running process were left" if in_flight else ""
        print(f"spool {spool.directory}: deleted {deleted} payload(s){busy}", file=stdout)
        return EXIT_OK
    show = args.progress or sys.stderr.isatty()
    return _replay(spool, args.timeout, show, stdout)


def _list(spool: Spool, verbose: bool, out: TextIO) -> int:
    summary = spool.summary()
    print(
        f"spool {spool.directory}: {summary.count} payload(s), {summary.bytes} bytes, "
        f"oldest {_age(summary.oldest_age)}",
        file=out,
    )
    notes = []
    if summary.claimed:
        notes.append(f"{summary.claimed} being sent by a running process")
    if summary.corrupt:
        notes.append(f"{summary.corrupt} corrupt file(s) set aside in corrupt/")
    if summary.rejected:
        notes.append(f"{summary.rejected} refused by the server, kept in rejected/")
    if notes:
        print("  " + "; ".join(notes), file=out)
    if verbose:
        now = time.time()
        for entry in spool.entries():
            state = "ready" if entry.claim is None else f"claimed by pid {entry.claim.pid}"
            print(
                f"  {entry.entry_id}.json  {entry.size:>9} bytes  "
                f"{_age(now - entry.created):>8}  {state}",
                file=out,
            )
    return EXIT_OK


def _replay(spool: Spool, timeout: float, show_progress: bool, out: TextIO) -> int:
    try:
        settings = Settings.load()
        if settings.routes is None:
            settings.require_credentials()
    except ConfigurationError as error:
        print(f"infinium-otel spool replay: {error}", file=sys.stderr)
        return EXIT_USAGE
    spool.sweep_temp_files()
    entries = spool.claimable()
    progress = Progress(len(entries), sys.stderr, show_progress)
    sent = skipped = rejected = 0
    code = EXIT_OK
    problem = ""
    clients = AgentClients(settings)
    unroutable: dict[str, int] = {}  # agent id -> payloads kept: no credentials here
    refused: set[str | None] = set()  # agents whose credentials were refused
    try:
        for done, entry in enumerate(entries, 1):
            agent = entry_agent(entry.entry_id)
            client = clients.get(agent)
            if agent in refused or client is None:
                if client is None and agent is not None:
                    unroutable[agent] = unroutable.get(agent, 0) + 1
                progress.update(done)
                continue  # kept on disk, never sent as another agent
            claimed = spool.claim(entry)
            if claimed is None:
                skipped += 1  # another sender got it, or it was corrupt and moved aside
                progress.update(done)
                continue
            key, body = claimed
            attempt = send_payload(client, body, deadline=time.monotonic() + timeout)
            if attempt.outcome is Outcome.DELIVERED:
                spool.remove(key)
                sent += 1
            elif attempt.outcome is Outcome.REFUSED:
                spool.reject(key)
                rejected += 1
                print(
                    f"  {key}: refused by the server ({attempt.reason}); moved to rejected/",
                    file=out,
                )
            elif attempt.outcome is Outcome.AUTH_REFUSED:
                spool.release(key)
                code = EXIT_AUTH
                refused.add(agent)
                whose = "INFINIUM_AGENT_ID and INFINIUM_AGENT_SECRET"
                if agent is not None and settings.routes is not None:
                    whose = f"the secret of agent {agent} in {settings.routes.origin}"
                problem = (
                    f"{attempt.reason}: replay stopped for that agent, the files are kept; "
                    f"check {whose}"
                )
                if settings.routes is None:
                    break
            else:
                spool.release(key)
                code = EXIT_UNDELIVERED if code == EXIT_OK else code
                problem = (
                    f"could not deliver ({attempt.reason}): replay stopped, the files are kept"
                )
                break
            progress.update(done)
    finally:
        clients.close()
    progress.close()
    left = spool.summary().count
    print(
        f"spool {spool.directory}: sent {sent}, refused {rejected}, skipped {skipped}; {left} left",
        file=out,
    )
    if unroutable:
        kept = ", ".join(f"{agent} ({count})" for agent, count in sorted(unroutable.items()))
        print(
            f"  kept, not sent: payloads of agents with no route or default credentials here: "
            f"{kept}",
            file=out,
        )
        code = EXIT_UNDELIVERED if code == EXIT_OK else code
    if problem:
        print(f"infinium-otel spool replay: {problem}", file=sys.stderr)
    return code
