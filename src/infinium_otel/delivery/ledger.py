"""What flush and shutdown may truthfully say: which submissions have settled, and how.

Every submission gets a sequence number. A flush waits for the numbers below
the one current when it started, and is True only when each of them settled as
accepted (or dropped by the payload hook's choice) and no failure since the
last flush went unreported. A payload kept on disk after a failed send is not
settled yet: its replay settles it, or it counts as not accepted once this
process stops replaying. Plain data, no lock and no clock: the delivery
worker's lock guards it, and the worker wakes the waiting flushes.
"""

from __future__ import annotations

import dataclasses

__all__ = ["MAX_TRACKED_KEPT", "FlushWaiter", "SettlementLedger", "deadline_after", "remaining"]

# Payloads of this process kept on disk after a failed send whose replay a flush waits for.
MAX_TRACKED_KEPT = 10_000


@dataclasses.dataclass(eq=False)
class FlushWaiter:
    """One waiting flush: every submission numbered below ``target`` counts."""

    target: int
    failed: bool


class SettlementLedger:
    """The sequence numbers not settled yet, the flushes waiting, the failures owed."""

    def __init__(self) -> None:
        self._next_seq = 0
        self._unsettled: set[int] = set()
        self._lowest = 0  # no submission numbered below it is unsettled
        self._flushes: list[FlushWaiter] = []
        self._unreported_failures = 0
        self._kept: dict[str, int] = {}  # spool key -> sequence number: its replay settles it

    def open(self) -> int:
        """Number a new submission; it is unsettled until ``settle``."""
        seq = self._next_seq
        self._next_seq += 1
        self._unsettled.add(seq)
        return seq

    def refused(self) -> None:
        """A submission refused outright (shutdown had begun): the next flush is False."""
        self._unreported_failures += 1

    def settle(self, seq: int, *, ok: bool) -> None:
        """Record a submission's end; a failure goes to the flushes waiting for it."""
        self._unsettled.discard(seq)
        if ok:
            return
        waiting = [flush for flush in self._flushes if seq < flush.target]
        for flush in waiting:
            flush.failed = True
        if not waiting:
            self._unreported_failures += 1

    def kept_on_disk(self, key: str, seq: int) -> bool:
        """A failed payload waits on disk for its replay; False when too many are tracked
        (the caller then settles it as not accepted)."""
        if len(self._kept) >= MAX_TRACKED_KEPT:
            return False
        self._kept[key] = seq
        return True

    def replay_ended(self, key: str, *, ok: bool) -> bool:
        """A replayed payload's outcome; True when it was one of ours a flush may wait for."""
        seq = self._kept.pop(key, None)
        if seq is None:
            return False
        self.settle(seq, ok=ok)
        return True

    def give_up_kept(self) -> bool:
        """Payloads on disk will not be retried by this process: they count as not accepted.
        True when any was settled so."""
        kept = list(self._kept.values())
        self._kept.clear()
        for seq in kept:
            self.settle(seq, ok=False)
        return bool(kept)

    def begin_flush(self) -> FlushWaiter:
        """A flush starts: it owes the failures unreported so far, waits for what came before."""
        waiter = FlushWaiter(self._next_seq, failed=self._unreported_failures > 0)
        self._unreported_failures = 0
        self._flushes.append(waiter)
        return waiter

    def end_flush(self, waiter: FlushWaiter) -> None:
        self._flushes.remove(waiter)

    def waits(self, waiter: FlushWaiter) -> bool:
        """True while a submission the flush counts is unsettled."""
        return self._lowest_unsettled() < waiter.target

    def flush_may_end(self) -> bool:
        """True when a waiting flush has nothing left to wait for: only then is it woken,
        not at every settlement (numbers are settled mostly in order, so this is cheap)."""
        if not self._flushes:
            return False
        lowest = self._lowest_unsettled()
        return any(lowest >= flush.target for flush in self._flushes)

    def _lowest_unsettled(self) -> int:
        """The lowest unsettled number (``_next_seq`` when none is): each number is passed once."""
        lowest, unsettled = self._lowest, self._unsettled
        while lowest < self._next_seq and lowest not in unsettled:
            lowest += 1
        self._lowest = lowest
        return lowest

    def all_accepted(self) -> bool:
        """Nothing unsettled and no failure unreported: what a second shutdown answers."""
        return not self._unsettled and self._unreported_failures == 0


def deadline_after(timeout: float | None, now: float) -> float | None:
    """The monotonic deadline ``timeout`` seconds from ``now``; None waits for ever."""
    return None if timeout is None else now + max(0.0, timeout)


def remaining(deadline: float | None, now: float) -> float | None:
    """Seconds left until ``deadline`` (never negative); None when there is no deadline."""
    return None if deadline is None else max(0.0, deadline - now)
