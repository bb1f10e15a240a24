"""``infinium-otel doctor``: is this machine set up to send runs to Infinium?

It checks the settings, reaches the endpoint, verifies the credentials without
sending a trace, and reports the spool; each problem comes with what to do.
"ok" is printed only for what really passed: the endpoint check passes only
when the Infinium API itself answered (see ``InfiniumClient.check_credentials``),
never for a web page, a file server or a wrong path.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import TextIO

from infinium_otel.client.sync_client import InfiniumClient
from infinium_otel.delivery.spool import Spool
from infinium_otel.errors import (
    AuthenticationError,
    ConfigurationError,
    InfiniumError,
    InfiniumTimeoutError,
    NetworkError,
    PermissionDeniedError,
    UnexpectedResponseError,
)
from infinium_otel.settings import Settings

__all__ = ["main", "run_checks"]

Report = Callable[[bool, str], None]


def run_checks(settings: Settings | None, report: Report, *, timeout: float = 10.0) -> bool:
    """Run every check, calling ``report(ok, line)`` for each; True when all pass."""
    if settings is None:
        try:
            settings = Settings.load()
        except ConfigurationError as error:
            report(False, f"settings: {error}")
            return False
    if settings.disabled:
        report(False, "INFINIUM_DISABLED is true: nothing will be exported until it is unset")
        return False
    if settings.routes is not None:
        return _check_routes(settings, report, timeout)
    try:
        agent_id, _ = settings.require_credentials()
    except ConfigurationError as error:
        report(False, f"credentials: {error}")
        return False
    report(True, f"settings: agent {agent_id}, endpoint {settings.base_url}")
    report(True, f"interpretation: {', '.join(sorted(settings.interpretation)) or 'off'}")
    healthy = _check_endpoint(settings, report, timeout)
    return _check_spool(settings, report) and healthy


def _check_routes(settings: Settings, report: Report, timeout: float) -> bool:
    """With a routing table: every routed agent's credentials, and the default's if set."""
    routes = settings.routes
    assert routes is not None
    default = settings.agent_id if settings.agent_secret is not None else None
    fallback = f"default agent {default}" if default else "no default agent (unmatched: dropped)"
    report(
        True,
        f"settings: {len(routes.routes)} route(s) to {len(routes.agent_ids)} agent(s) from "
        f"{routes.origin}, {fallback}, endpoint {settings.base_url}",
    )
    report(True, f"interpretation: {', '.join(sorted(settings.interpretation)) or 'off'}")
    healthy = True
    if default:
        healthy = _check_endpoint(settings, report, timeout)
    for agent_id in routes.agent_ids:
        if default and agent_id == default.lower():
            continue
        routed = settings.override(agent_id=agent_id, agent_secret=routes.secret_of(agent_id))
        healthy = _check_endpoint(routed, report, timeout, agent=agent_id) and healthy
    return _check_spool(settings, report) and healthy


def _check_endpoint(
    settings: Settings, report: Report, timeout: float, *, agent: str | None = None
) -> bool:
    """One agent's credentials against the endpoint; ``agent`` names a routed one."""
    if agent is not None:
        return _check_endpoint(settings, _routed(report, agent), timeout)

    try:
        with InfiniumClient.from_settings(settings) as client:
            started = time.monotonic()
            response = client.check_credentials(max_retries=0, deadline=time.monotonic() + timeout)
            elapsed_ms = (time.monotonic() - started) * 1000
    except PermissionDeniedError:
        report(
            False,
            "credentials: accepted but not allowed for this agent (403); "
            "check that the secret belongs to this agent id",
        )
        return False
    except AuthenticationError:
        report(
            False,
            "credentials: refused (401); check INFINIUM_AGENT_ID and "
            "INFINIUM_AGENT_SECRET on the agent's page in Infinium",
        )
        return False
    except InfiniumTimeoutError:
        report(
            False,
            f"endpoint: no answer within {timeout:g} s from {settings.base_url}; "
            "check the URL, proxies and firewalls",
        )
        return False
    except NetworkError as error:
        refused = error.details.get("refused")
        if refused:
            report(
                False,
                f"endpoint: connection refused: nothing is listening at {refused} "
                f"({settings.base_url}); is the server running and INFINIUM_BASE_URL right?",
            )
            return False
        report(
            False,
            f"endpoint: cannot connect to {settings.base_url} ({error}); "
            "check INFINIUM_BASE_URL and the network",
        )
        return False
    except UnexpectedResponseError as error:
        report(False, f"endpoint: {settings.base_url}: {error}")
        return False
    except InfiniumError as error:
        report(False, f"endpoint: unexpected answer ({error})")
        return False
    if not response.success:  # check_credentials raises for every failure; never trust less
        report(False, f"endpoint: unexpected answer ({response.message})")
        return False
    report(
        True,
        "endpoint reached and credentials accepted "
        f"(the API answered {response.status_code} to a probe; {elapsed_ms:.0f} ms)",
    )
    return True


def _routed(report: Report, agent: str) -> Report:
    """Lines about a routed agent say which, and point at its route, not the variables."""

    def routed_report(ok: bool, line: str) -> None:
        line = line.replace(
            "check INFINIUM_AGENT_ID and INFINIUM_AGENT_SECRET on the agent's page in Infinium",
            "check the secret its route names against the agent's page in Infinium",
        )
        report(ok, f"agent {agent}: {line}")

    return routed_report


def _check_spool(settings: Settings, report: Report) -> bool:
    if not settings.spool_dir:
        report(True, "spool: off (set INFINIUM_SPOOL_DIR to keep runs across outages)")
        return True
    path = settings.spool_dir
    if not os.path.isdir(path):
        report(True, f"spool: {path} does not exist yet (it is created on first use)")
        return True
    if not os.access(path, os.W_OK):
        report(False, f"spool: {path} is not writable by this user")
        return False
    try:
        summary = Spool(path, create=False).summary()
    except ConfigurationError as error:
        report(False, f"spool: {error}")
        return False
    pending = f"{summary.count} undelivered payloads ({summary.bytes} bytes)"
    advice = "; `infinium-otel spool replay` sends them" if summary.count else ""
    aside = f"; {summary.corrupt} corrupt file(s) in corrupt/" if summary.corrupt else ""
    report(True, f"spool: {path}: {pending}{advice}{aside}")
    return True


def main(argv: Sequence[str] | None = None, out: TextIO | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="infinium-otel doctor",
        description="Check the INFINIUM_* settings, the endpoint and the credentials.",
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds per check (10)")
    args = parser.parse_args(list(argv) if argv is not None else None)
    stream = out or sys.stdout

    def report(ok: bool, line: str) -> None:
        print(f"[{'ok' if ok else 'FAIL'}] {line}", file=stream)

    healthy = run_checks(None, report, timeout=args.timeout)
    print("all checks passed" if healthy else "some checks failed: see above", file=stream)
    return 0 if healthy else 1
