"""The ``infinium-otel`` command: demo, sandbox, doctor, spool, results and gateway."""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Sequence

from infinium_otel._version import __version__

__all__ = ["main"]

_USAGE = """infinium-otel <command> [options]

commands:
  demo      run a small instrumented agent against a local sandbox and print
            Maestro's interpretation as a log line
  sandbox   serve a local Infinium-compatible API (see `infinium-otel sandbox -h`)
  doctor    check settings, reach the endpoint, verify the credentials
  spool     list, replay or purge undelivered runs (`infinium-otel spool -h`)
  results   verdicts of recently delivered runs (`infinium-otel results -h`)
  gateway   receive OTLP traces from any language and send whole runs (`infinium-otel gateway -h`)
"""


_COMMANDS = ("demo", "sandbox", "doctor", "spool", "results", "gateway")

# Conventional exit status after Ctrl+C (128 + SIGINT).
INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    """Run one command; a closed stdout or Ctrl+C ends it quietly, without a traceback."""
    try:
        status = _run(list(sys.argv[1:] if argv is None else argv))
        sys.stdout.flush()  # a closed pipe shows here, not at interpreter exit
        return status
    except BrokenPipeError:
        # The reader went away (``infinium-otel doctor | head -3``): as the Python docs
        # advise, point stdout at devnull so the final flush at exit cannot fail again.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 1
    except KeyboardInterrupt:
        return INTERRUPTED


def _run(args: list[str]) -> int:
    if not args or args[0] in ("-h", "--help", "help"):
        print(_USAGE, file=sys.stdout if args else sys.stderr)
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        print(f"infinium-otel {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command in _COMMANDS:
        # Each command's module loads only when it runs: `sandbox` needs no client, say.
        module = importlib.import_module(f"infinium_otel.cli.{command}")
        status: int = module.main(rest)
        return status
    print(
        f"infinium-otel: unknown command {command!r}; use one of {', '.join(_COMMANDS)} "
        "(see infinium-otel --help)",
        file=sys.stderr,
    )
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
