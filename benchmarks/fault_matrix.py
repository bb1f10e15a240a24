"""Run the fault-matrix tests and print their measured table (for docs/reliability.md).

    python benchmarks/fault_matrix.py

Each row comes from tests/reliability/test_fault_matrix.py, which sends five
runs through a real exporter to the sandbox while it injects the fault
(client timeout 0.5 s, backoff 0.05 s, 6 retries).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COLUMNS = [
    ("fault", "fault"),
    ("runs_sent", "runs sent"),
    ("delivered", "delivered"),
    ("duplicates", "duplicates"),
    ("attempts_seen_by_server", "attempts (server)"),
    ("client_retries", "client retries"),
    ("seconds", "seconds"),
    ("notes", "notes"),
]


def main() -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "matrix.json"
        env = {**os.environ, "INFINIUM_FAULT_MATRIX_OUT": str(out)}
        test = ROOT / "tests" / "reliability" / "test_fault_matrix.py"
        result = subprocess.run(
            [
                sys.executable,
                "-m",
                "pytest",
                "-q",
                "-p",
                "no:cacheprovider",
                str(test),
                "-k",
                "test_fault",
            ],
            cwd=ROOT,
            env=env,
        )
        if not out.exists():
            print("the fault-matrix tests wrote no table", file=sys.stderr)
            return result.returncode or 1
        rows = json.loads(out.read_text(encoding="utf-8"))
    print("| " + " | ".join(title for _, title in COLUMNS) + " |")
    print("|" + "|".join("---" for _ in COLUMNS) + "|")
    for row in rows:
        print("| " + " | ".join(str(row.get(key, "")) for key, _ in COLUMNS) + " |")
    return result.returncode


if __name__ == "__main__":
    sys.exit(main())
