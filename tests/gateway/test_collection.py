"""The gateway process's garbage-collector settings (in a fresh interpreter: they are
process-wide, and a test run must keep its own)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = str(Path(__file__).resolve().parents[2] / "src")

PROBE = """
import gc, json
from infinium_otel.gateway.collection import YOUNG_THRESHOLD, tune_for_gateway
before = gc.get_threshold()
previous = tune_for_gateway()
print(json.dumps([before, previous, gc.get_threshold(), gc.get_freeze_count(), YOUNG_THRESHOLD]))
"""


def test_tuning_freezes_start_up_objects_and_collects_young_ones_less_often() -> None:
    import json

    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        env={"PYTHONPATH": SRC},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    before, previous, after, frozen, young = json.loads(done.stdout)
    assert previous == before
    assert after[0] == young > before[0]
    assert frozen > 1000  # the interpreter's and the imports' objects
