"""``infinium-otel results``: Maestro's verdicts of the runs this machine delivered.

It reads the local run history (kept when ``INFINIUM_HISTORY`` is set where the
agents run) and asks Infinium once for each recorded run's interpretation, with
the credentials of this environment (``INFINIUM_AGENT_ID``,
``INFINIUM_AGENT_SECRET``, ``INFINIUM_BASE_URL``). A run recorded for another
agent id or another endpoint is listed without a verdict: this environment has
no credentials for it, and a secret is never sent anywhere but its own endpoint.

Exit status: 0 when every lookup got an answer (ready or not yet), 1 when some
lookup failed, 2 for a usage or configuration problem.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, TextIO

from infinium_otel._text import cap
from infinium_otel.errors import AuthenticationError, ConfigurationError, InfiniumError
from infinium_otel.interpretation.evaluation import evaluations_for
from infinium_otel.interpretation.history import (
    HISTORY_ENV,
    HistoryRecord,
    RunHistory,
    as_dict,
    parse_history_setting,
)
from infinium_otel.interpretation.outcome import InterpretationOutcome
from infinium_otel.interpretation.render import summary_text
from infinium_otel.settings import Settings

__all__ = ["main"]

EXIT_OK = 0
EXIT_LOOKUP_FAILED = 1
EXIT_USAGE = 2
MAX_LAST = 500
LINE_VERDICT_CAP = 300

READY, PENDING, ERROR = "ready", "pending", "error"
OTHER_AGENT, OTHER_ENDPOINT, NO_CREDENTIALS = "other_agent", "other_endpoint", "no_credentials"


@dataclass
class Verdict:
    """What this command found out about one recorded run."""

    record: HistoryRecord
    status: str
    message: str
    verdict: Any = None
    evaluations: list[dict[str, Any]] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            **as_dict(self.record),
            "status": self.status,
            "verdict": self.verdict,
            "message": self.message,
            "evaluations": self.evaluations,
        }


def _count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if not 1 <= value <= MAX_LAST:
        raise argparse.ArgumentTypeError(f"must be between 1 and {MAX_LAST}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not 0.1 <= value <= 300:
        raise argparse.ArgumentTypeError("must be between 0.1 and 300 seconds")
    return value


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="infinium-otel results",
        description=(
            "Show Maestro's verdicts of the most recent runs this machine delivered "
            f"(recorded when {HISTORY_ENV} is set where the agents run)."
        ),
    )
    parser.add_argument(
        "--last", type=_count, default=10, metavar="N", help="how many runs (default 10)"
    )
    parser.add_argument("--json", action="store_true", help="one JSON object per run, as a list")
    parser.add_argument(
        "--history",
        metavar="PATH",
        help=f"the history file (default: {HISTORY_ENV}; 'true' means the default path)",
    )
    parser.add_argument(
        "--timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="time allowed for each lookup (default 10)",
    )
    return parser


def main(argv: Sequence[str] | None = None, *, stdout: TextIO | None = None) -> int:
    out = stdout or sys.stdout
    try:
        args = _parser().parse_args(list(argv) if argv is not None else None)
    except SystemExit as stop:  # argparse has printed the usage or the help
        return stop.code if isinstance(stop.code, int) else EXIT_USAGE
    try:
        raw = args.history if args.history is not None else os.environ.get(HISTORY_ENV)
        path = parse_history_setting(raw, "--history" if args.history is not None else HISTORY_ENV)
    except ConfigurationError as error:
        print(f"infinium-otel results: {error}", file=sys.stderr)
        return EXIT_USAGE
    if path is None:
        print(
            f"infinium-otel results: no run history is kept. Set {HISTORY_ENV}=true (or a "
            "file path) where your agents run; runs delivered from then on are listed here.",
            file=sys.stderr,
        )
        return EXIT_USAGE
    try:
        records = RunHistory(path).read(args.last)
    except (OSError, ValueError) as error:
        print(f"infinium-otel results: cannot read {path}: {error}", file=sys.stderr)
        return EXIT_LOOKUP_FAILED
    try:
        settings = Settings.load()
    except ConfigurationError as error:
        print(f"infinium-otel results: {error}", file=sys.stderr)
        return EXIT_USAGE
    verdicts = _look_up(list(reversed(records)), settings, args.timeout)
    if args.json:
        json.dump([v.to_json() for v in verdicts], out, indent=2, ensure_ascii=False)
        out.write("\n")
    elif not verdicts:
        print(f"no runs recorded in {path} yet", file=out)
    else:
        for verdict in verdicts:
            print(_line(verdict), file=out)
    failed = any(v.status == ERROR for v in verdicts)
    return EXIT_LOOKUP_FAILED if failed else EXIT_OK


def _look_up(records: list[HistoryRecord], settings: Settings, timeout: float) -> list[Verdict]:
    """One verdict per record, newest first; one lookup per run this environment may ask.

    With a routing table (``INFINIUM_ROUTES``) a routed agent's runs are asked
    with its route's credentials.
    """
    if not records:
        return []
    from infinium_otel.client.agents import AgentClients

    clients = AgentClients(settings)
    if clients.default_agent_id is None and settings.routes is None:
        message = "credentials not available (INFINIUM_AGENT_ID / INFINIUM_AGENT_SECRET not set)"
        return [Verdict(r, NO_CREDENTIALS, message) for r in records]
    refused: dict[str, str] = {}  # agent id -> why its credentials failed
    verdicts: list[Verdict] = []
    try:
        for record in records:
            agent = record.agent_id.lower()
            client = clients.get(agent)
            if client is None:
                verdicts.append(
                    Verdict(record, OTHER_AGENT, "other agent: credentials not available")
                )
            elif record.base_url.rstrip("/") != settings.base_url.rstrip("/"):
                verdicts.append(
                    Verdict(
                        record,
                        OTHER_ENDPOINT,
                        f"other endpoint ({record.base_url}): credentials not available",
                    )
                )
            elif agent in refused:
                verdicts.append(Verdict(record, ERROR, refused[agent]))
            else:
                try:
                    verdicts.append(_fetch(client, record, timeout))
                except AuthenticationError as error:
                    refused[agent] = f"credentials refused: {error.message}"
                    verdicts.append(Verdict(record, ERROR, refused[agent]))
    finally:
        clients.close()
    return verdicts


def _fetch(client: Any, record: HistoryRecord, timeout: float) -> Verdict:
    try:
        response = client.get_interpreted_task_result(
            record.trace_id, deadline=time.monotonic() + timeout, max_retries=1
        )
    except AuthenticationError:
        raise
    except InfiniumError as error:
        return Verdict(record, ERROR, error.message)
    result = response.interpreted_result if response.success else None
    if not result:
        return Verdict(record, PENDING, response.message or "not ready yet")
    outcome = InterpretationOutcome(
        status="ready",
        infinium_trace_id=record.trace_id,
        otel_trace_id=0,
        otel_span_id=0,
        agent_name=record.name,
        service_name=None,
        result=result,
        message=response.message or "interpretation ready",
        attempts=1,
        elapsed=0.0,
    )
    evaluations = [
        {k: v for k, v in asdict(e).items() if v is not None} for e in evaluations_for(outcome)
    ]
    return Verdict(record, READY, outcome.message, verdict=result, evaluations=evaluations)


def _line(verdict: Verdict) -> str:
    record = verdict.record
    name = record.name or "(unnamed run)"
    if verdict.status == READY:
        detail = " ".join(summary_text(verdict.verdict).split())
    else:
        detail = verdict.message
    return (
        f"{record.delivered_at}  {name}  {record.trace_id}  {verdict.status}: "
        f"{cap(detail, LINE_VERDICT_CAP)}"
    )


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
