"""What a valgrind count file (cachegrind's or callgrind's) says in all: the benchmarks
that count instructions read it from there."""

from __future__ import annotations

from pathlib import Path


def summary_count(path: Path) -> int:
    """The instructions on the file's ``summary:`` line."""
    for line in path.read_text().splitlines():
        if line.startswith("summary:"):
            return int(line.split()[1])
    raise RuntimeError(f"no summary in {path}")
