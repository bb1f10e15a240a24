"""The ``infinium-otel`` command: demo, sandbox, doctor and spool tools."""

from __future__ import annotations

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
"""


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    if not args or args[0] in ("-h", "--help", "help"):
        print(_USAGE)
        return 0 if args else 2
    if args[0] in ("-V", "--version"):
        print(f"infinium-otel {__version__}")
        return 0
    command, rest = args[0], args[1:]
    if command == "demo":
        from infinium_otel.cli.demo import main as demo_main

        return demo_main(rest)
    if command == "sandbox":
        from infinium_otel.cli.sandbox import main as sandbox_main

        return sandbox_main(rest)
    if command == "doctor":
        from infinium_otel.cli.doctor import main as doctor_main

        return doctor_main(rest)
    if command == "spool":
        from infinium_otel.cli.spool import main as spool_main

        return spool_main(rest)
    print(f"infinium-otel: unknown command {command!r}\n\n{_USAGE}", file=sys.stderr)
    return 2


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
