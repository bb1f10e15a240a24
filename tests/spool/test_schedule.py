"""The spool's retry timing as pure arithmetic: times go in, no clock, no thread."""

from __future__ import annotations

import pytest

from infinium_otel.delivery.attempt import Outcome
from infinium_otel.delivery.schedule import ReplaySchedule


def schedule() -> ReplaySchedule:
    return ReplaySchedule(initial=5.0, cap=40.0, start_delay=1.0)


def test_nothing_is_due_until_something_is_kept() -> None:
    plan = schedule()
    assert plan.wait(100.0) is None
    assert not plan.due(1e9)


def test_entries_left_at_start_are_tried_after_the_start_delay() -> None:
    plan = schedule()
    plan.entries_at_start(now=10.0)
    assert plan.wait(10.0) == 1.0
    assert not plan.due(10.5)
    assert plan.due(11.0)


def test_a_kept_payload_waits_the_current_delay_and_does_not_push_back_an_earlier_retry() -> None:
    plan = schedule()
    plan.payload_kept(now=0.0)
    assert plan.next_at == 5.0
    plan.payload_kept(now=3.0)  # another failure before the retry: the first time stands
    assert plan.next_at == 5.0


def test_failed_replays_double_the_delay_up_to_the_cap() -> None:
    plan = schedule()
    waits = []
    now = 0.0
    for _ in range(6):
        plan.after_replay(Outcome.FAILED, now)
        waits.append(plan.next_at - now if plan.next_at is not None else None)
        now += 100.0
    assert waits == [10.0, 20.0, 40.0, 40.0, 40.0, 40.0]


@pytest.mark.parametrize("outcome", [Outcome.DELIVERED, Outcome.REFUSED])
def test_an_answered_replay_goes_on_at_once_from_the_initial_delay(outcome: Outcome) -> None:
    plan = schedule()
    plan.after_replay(Outcome.FAILED, 0.0)
    plan.after_replay(Outcome.FAILED, 10.0)
    assert plan.delay == 20.0
    plan.after_replay(outcome, 50.0)
    assert plan.next_at == 50.0
    assert plan.delay == 5.0


def test_refused_credentials_block_replays_until_a_live_send_is_accepted() -> None:
    plan = schedule()
    plan.payload_kept(0.0)
    plan.after_replay(Outcome.AUTH_REFUSED, 5.0)
    assert plan.blocked
    assert plan.wait(6.0) is None
    assert not plan.due(1e9)
    plan.after_live(Outcome.FAILED, 7.0)
    assert plan.blocked  # only an accepted send proves the credentials work
    plan.after_live(Outcome.DELIVERED, 8.0)
    assert not plan.blocked
    assert plan.due(8.0)


def test_a_live_auth_refusal_blocks_replays_too() -> None:
    plan = schedule()
    plan.payload_kept(0.0)
    plan.after_live(Outcome.AUTH_REFUSED, 1.0)
    assert plan.wait(2.0) is None


def test_a_live_success_while_retries_wait_means_the_server_is_back() -> None:
    plan = schedule()
    plan.after_replay(Outcome.FAILED, 0.0)
    plan.after_replay(Outcome.FAILED, 10.0)
    assert plan.next_at == 30.0
    plan.after_live(Outcome.DELIVERED, 12.0)
    assert plan.next_at == 12.0
    assert plan.delay == 5.0


def test_a_live_success_with_nothing_kept_schedules_nothing() -> None:
    plan = schedule()
    plan.after_live(Outcome.DELIVERED, 3.0)
    assert plan.next_at is None


def test_an_empty_pass_idles_or_looks_again_at_the_cap_when_others_hold_entries() -> None:
    plan = schedule()
    plan.entries_at_start(0.0)
    plan.after_empty_pass(others_waiting=True, now=1.0)
    assert plan.next_at == 41.0
    plan.after_empty_pass(others_waiting=False, now=41.0)
    assert plan.next_at is None


def test_bad_bounds_are_made_sane() -> None:
    plan = ReplaySchedule(initial=0.0, cap=-1.0, start_delay=-5.0)
    assert plan.initial > 0
    assert plan.cap >= plan.initial
    assert plan.start_delay == 0.0
