"""Argument parsing shared by the commands: one error line, and checked numbers.

A mistake on the command line is answered with one line on stderr and exit
status 2, never a traceback from deep inside the command.
"""

from __future__ import annotations

import argparse
import math
import sys
from typing import NoReturn

__all__ = ["Parser", "non_negative_seconds", "port", "positive_seconds", "stderr_line"]


class Parser(argparse.ArgumentParser):
    """``ArgumentParser`` whose errors are one line (``--help`` shows the usage)."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def port(text: str) -> int:
    """A TCP port, 0 (pick a free one) to 65535."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a port number: {text!r}") from None
    if not 0 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"port must be 0 to 65535, got {value}")
    return value


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of seconds: {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"not a finite number of seconds: {text!r}")
    return value


def non_negative_seconds(text: str) -> float:
    """Seconds, zero or more."""
    value = _seconds(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must not be negative, got {text}")
    return value


def positive_seconds(text: str) -> float:
    """Seconds, more than zero."""
    value = _seconds(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be more than 0, got {text}")
    return value


def stderr_line(prog: str, message: str) -> None:
    """One error line for a mistake found after parsing."""
    print(f"{prog}: {message}", file=sys.stderr)
