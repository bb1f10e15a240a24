"""``python -m infinium_otel.sandbox``: the same command as ``infinium-otel sandbox``.

The command (its arguments, the stop signals, the printed settings) belongs to
the CLI layer, ``infinium_otel.cli.sandbox``. This launcher is the one file of
the sandbox package that reaches up to it: it runs only as a program, and no
other module of the package imports the CLI.
"""

from infinium_otel.cli.sandbox import main

if __name__ == "__main__":
    raise SystemExit(main())
