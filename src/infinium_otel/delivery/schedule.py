"""When to retry the spool next: pure arithmetic on times, no clocks, threads or I/O.

All times are ``time.monotonic()`` seconds handed in by the caller. The
delivery thread only asks ``due(now)`` / ``wait(now)`` and reports what
happened; this module decides what that means for the next retry:

- entries left by earlier processes are first tried ``start_delay`` after start;
- after a replay the server answered (delivered, or refused for good), the next
  entry goes at once; after a failed one the delay doubles, up to ``cap``;
- refused credentials stop replays until a live send is accepted again;
- a live send accepted while retries are pending means the server is back:
  retry now, from the initial delay.
"""

from __future__ import annotations

import dataclasses

from infinium_otel.delivery.attempt import Outcome

__all__ = ["ReplaySchedule"]


@dataclasses.dataclass
class ReplaySchedule:
    """The spool's retry timing; ``next_at`` None means nothing to retry."""

    initial: float = 5.0
    cap: float = 300.0
    start_delay: float = 1.0
    next_at: float | None = None
    delay: float = dataclasses.field(init=False)
    blocked: bool = False

    def __post_init__(self) -> None:
        self.initial = max(0.001, self.initial)
        self.cap = max(self.initial, self.cap)
        self.start_delay = max(0.0, self.start_delay)
        self.delay = self.initial

    def due(self, now: float) -> bool:
        """True when a replay should be made now."""
        return not self.blocked and self.next_at is not None and now >= self.next_at

    def wait(self, now: float) -> float | None:
        """Seconds until the next replay; None when none is scheduled (or replays are blocked)."""
        if self.blocked or self.next_at is None:
            return None
        return max(0.0, self.next_at - now)

    def entries_at_start(self, now: float) -> None:
        """Entries left by earlier processes wait on disk: pick them up shortly."""
        self.next_at = now + self.start_delay

    def payload_kept(self, now: float) -> None:
        """A payload that failed went back to the spool: retry after the current delay."""
        if self.next_at is None:
            self.next_at = now + self.delay

    def after_replay(self, outcome: Outcome, now: float) -> None:
        """Reschedule by what a replayed payload came to."""
        if outcome in (Outcome.DELIVERED, Outcome.REFUSED):
            self.delay = self.initial
            self.next_at = now  # the server answers: go on with the next entry
        elif outcome is Outcome.AUTH_REFUSED:
            self.blocked = True
        else:
            self.delay = min(self.delay * 2, self.cap)
            self.next_at = now + self.delay

    def after_live(self, outcome: Outcome, now: float) -> None:
        """A live send's outcome says something about the server too."""
        if outcome is Outcome.DELIVERED:
            self.blocked = False  # the credentials work again
            if self.next_at is not None:
                self.delay = self.initial
                self.next_at = now
        elif outcome is Outcome.AUTH_REFUSED:
            self.blocked = True

    def after_empty_pass(self, others_waiting: bool, now: float) -> None:
        """Nothing was claimable: idle, or look again at the cap if other senders hold entries."""
        self.next_at = now + self.cap if others_waiting else None

    def claim_lost(self, now: float) -> None:
        """Another sender took the entry over: go on with the next one."""
        self.next_at = now
