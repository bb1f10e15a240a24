"""Garbage-collector settings for a gateway process.

A gateway holds many small objects for a while (spans grouped by trace, runs
waiting for delivery). With CPython's default thresholds every 700 allocations
start a young collection and the older generations, which hold all of them, are
traversed again and again: on the benchmark's runs that cost about a quarter of
the gateway's own CPU. Objects made at start-up are frozen out of collection,
and young collections run less often. Reference counting still frees almost
everything at once; only cyclic garbage waits longer, and it is still collected.
Only the ``infinium-otel gateway`` process does this, never a host application.
"""

from __future__ import annotations

import gc

__all__ = ["YOUNG_THRESHOLD", "tune_for_gateway"]

YOUNG_THRESHOLD = 50_000


def tune_for_gateway() -> tuple[int, int, int]:
    """Freeze what exists now, collect young objects less often; the old thresholds."""
    previous = gc.get_threshold()
    gc.collect()
    gc.freeze()
    gc.set_threshold(YOUNG_THRESHOLD, 20, 20)
    return previous
