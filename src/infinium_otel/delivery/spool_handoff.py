"""The hand-off between memory and the spool: what stays on disk, and its replays.

A payload that leaves memory unsent (dropped from a full queue, abandoned at
shutdown, or failed after the live send's retries) stays on disk when there is
a spool. ``ReplaySchedule`` (``schedule.py``) times the retries of what is on
disk; this module tells it what happened and makes the replays: one spooled
payload at a time, sent from a free slot of the send pool, one attempt each.
A replayed payload of this process settles the submission a flush may wait
for. Refused credentials stop replays until a live send is accepted again.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from infinium_otel.delivery.attempt import Outcome
from infinium_otel.delivery.items import Delivery
from infinium_otel.delivery.sender import PayloadSender
from infinium_otel.delivery.state import DeliveryState
from infinium_otel.payload.run import Run

__all__ = ["SpoolHandoff"]

_log = logging.getLogger("infinium_otel.delivery")


class SpoolHandoff:
    """Keeps unsent payloads on disk and replays them by the schedule; a no-op without spool."""

    def __init__(self, state: DeliveryState, sender: PayloadSender, *, retry_window: float) -> None:
        self._state = state
        self._sender = sender
        self._has_spool = sender.spool is not None
        self._retry_window = retry_window

    # -- payloads leaving memory --------------------------------------------

    def keep_unsent(self, work: Run | Delivery) -> bool:
        """A payload leaving memory unsent stays on disk when there is a spool; True if so."""
        kept = self._sender.keep_unsent(work)
        if kept:
            self.payload_kept()
        return kept

    def payload_kept(self) -> None:
        """A payload went back to the spool: a replay is due after the current delay."""
        with self._state.lock:
            self._state.schedule.payload_kept(time.monotonic())
            self._state.schedule_changed()

    def await_replay(self, key: str, seq: int) -> bool:
        """A live send failed and left its payload on disk (lock held): its replay will
        settle the submission. False when it must settle now (stopping, or too many)."""
        return not self._state.stopping and self._state.ledger.kept_on_disk(key, seq)

    def after_live(self, item: Delivery, outcome: Outcome) -> None:
        """A live send's outcome says whether the server (and the credentials) work again."""
        with self._state.lock:
            self._after_outcome(self._state.schedule.after_live, _for_schedule(item, outcome))

    # -- replays ------------------------------------------------------------

    def entries_at_start(self) -> bool:
        """Entries left by earlier processes: schedule their pick-up; True when there are any."""
        if not self._sender.entries_waiting():
            return False
        with self._state.lock:
            self._state.schedule.entries_at_start(time.monotonic())
            self._state.schedule_changed()
        return True

    def due_at(self) -> float | None:
        """Monotonic time of the next replay (lock held); None when none is scheduled."""
        schedule = self._state.schedule
        return None if not self._has_spool or schedule.blocked else schedule.next_at

    def take_turn(self, now: float) -> bool:
        """A free sender asks whether to replay now (lock held); True makes it the replayer."""
        state = self._state
        if not self._has_spool or state.replaying or state.stopping:
            return False
        if not state.schedule.due(now):
            return False
        state.replaying = True
        return True

    def wait(self, now: float) -> float | None:
        """Seconds a free sender may sleep before a replay is due (lock held); None: until woken."""
        state = self._state
        if not self._has_spool or state.replaying or state.stopping:
            return None
        return state.schedule.wait(now)

    def replay(self) -> None:
        """The replayer's task: retry the oldest spooled payload nobody is sending."""
        try:
            self._replay_one()
        finally:
            with self._state.lock:
                self._state.replaying = False
                if self._state.stopping:  # shutdown left this one's payload to the replay
                    self._state.give_up_kept()
                self._state.schedule_changed()

    def _replay_one(self) -> None:
        state = self._state
        item = self._sender.claim_next()
        if item is None:
            others = self._sender.entries_waiting()
            with state.lock:
                state.schedule.after_empty_pass(others, time.monotonic())
            return
        key = item.spool_key
        outcome, kept = self._sender.send(
            item,
            deadline=state.send_deadline(self._retry_window),
            max_retries=0,  # one attempt per entry and interval
            cancel=state.cancel,
        )
        if kept:
            self.payload_kept()
        with state.lock:
            if not kept and key is not None:  # a payload of ours a flush may be waiting for
                state.ledger.replay_ended(key, ok=outcome is Outcome.DELIVERED)
                state.flushes_may_end()
            if outcome is None:
                state.schedule.claim_lost(time.monotonic())
            else:
                self._after_outcome(state.schedule.after_replay, _for_schedule(item, outcome))

    def _after_outcome(self, update: Callable[[Outcome, float], None], outcome: Outcome) -> None:
        """Apply an outcome to the replay schedule (lock held); say so when replays stop."""
        if not self._has_spool:
            return
        schedule = self._state.schedule
        blocked = schedule.blocked
        update(outcome, time.monotonic())
        if schedule.blocked and not blocked:
            self._state.give_up_kept()
            _log.error(
                "Infinium: the credentials were refused (401/403); spooled runs are kept on "
                "disk and no longer retried by this process. Fix INFINIUM_AGENT_ID / "
                "INFINIUM_AGENT_SECRET, then run `infinium-otel spool replay`."
            )
        self._state.schedule_changed()


def _for_schedule(item: Delivery, outcome: Outcome) -> Outcome:
    """A routed agent's refused credentials stop only its own replays (the sender skips
    them), not the whole spool's: for the schedule that is a failure like any other."""
    if outcome is Outcome.AUTH_REFUSED and item.meta.agent_id is not None:
        return Outcome.FAILED
    return outcome
