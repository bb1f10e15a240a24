"""``python -m infinium_otel.sandbox``: the same command as ``infinium-otel sandbox``.

The command (its arguments, the stop signals, the printed settings) belongs to
the CLI layer, ``infinium_otel.cli.sandbox``; this launcher only runs that
module as the main program, so no module of the sandbox package imports the CLI.
"""

import runpy

runpy.run_module("infinium_otel.cli.sandbox", run_name="__main__")
