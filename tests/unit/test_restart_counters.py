"""vrmonitor_service_restarts_total and _restart_failures_total as the lifecycle counts them
(services/lifecycle.py), and their carry-over to the next daemon of the same boot."""

from tests.unit.test_lifecycle import (DOWN, DOWN_FACTS, ENTRY, SETTINGS, T, UP, UP_AGAIN,
                                       UP_FACTS, WALL, lifecycle, record)
from vrmonitor.services.carry_over import restored
from vrmonitor.services.lifecycle import Outcome, Phase


def test_a_restart_by_vrmonitor_counts_once():
    lc, r = lifecycle(), record(Phase.RECOVERING, **DOWN_FACTS)
    lc.job_done(r, Outcome("restarted", ""), T)
    lc.settle_observed(r, UP_AGAIN, T + 0.1, WALL)
    assert (r.restarts_total, r.restart_failures_total) == (1, 0)


def test_a_crash_found_already_restarted_counts_once():
    lc, r = lifecycle(), record(Phase.WATCHING, **UP_FACTS)
    lc.exited(r, UP_AGAIN, None, T, WALL)
    assert (r.restarts_total, r.restart_failures_total) == (1, 0)


def test_back_by_another_hand_after_being_seen_down_counts_once():
    lc, r = lifecycle(), record(Phase.WATCHING, **UP_FACTS)
    lc.observed(r, DOWN, None, T, WALL)
    lc.observed(r, UP_AGAIN, None, T + 1, WALL)
    assert r.restarts_total == 1


def test_first_sight_up_is_no_restart():
    lc, r = lifecycle(), record(Phase.UNSEEN)
    lc.observed(r, UP, None, T, WALL)
    assert r.restarts_total == 0


def test_failed_blocked_and_died_on_trial_attempts_count_as_failures():
    lc, r = lifecycle(), record(Phase.RECOVERING, **DOWN_FACTS)
    lc.job_done(r, Outcome("failed", "exit 1"), T)
    r.phase = Phase.RECOVERING
    lc.job_done(r, Outcome("config", "bad line"), T)
    r.phase = Phase.RECOVERING
    lc.job_done(r, Outcome("deferred", "systemd starts it"), T)  # not an attempt of ours
    assert r.restart_failures_total == 2
    trial = record(Phase.TRIAL, **UP_FACTS, due=T - 1)
    lc.observed(trial, DOWN, None, T, WALL)
    assert trial.restart_failures_total == 1 and trial.crash_loop


def test_the_counters_are_carried_to_the_next_daemon_of_the_boot():
    before = record(Phase.WATCHING, **UP_FACTS, restarts_total=7, restart_failures_total=3)
    again = restored(ENTRY, before.snapshot(T).to_dict(), T, WALL, SETTINGS.parked_reprobe_interval)
    assert (again.restarts_total, again.restart_failures_total) == (7, 3)
