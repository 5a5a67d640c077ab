"""A service's record carried on from the previous daemon of the same boot, without re-alerting.

Restored only on the same boot (the daemon checks), where monotonic times compare; an older
daemon's wall-clock "restart_times" are not carried over.
"""

import logging

from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.services.detect import ServiceState
from vrmonitor.services.lifecycle import Phase, ServiceRecord
from vrmonitor.services.saved_state import service_problem
from vrmonitor.services.snapshot import ServiceSnapshot
from vrmonitor.system.identity import ProcessIdentity, wall_time_of

LOG = logging.getLogger(__name__)


def restored(entry: ServiceEntry, saved: object, now: float, wall: float, parked_reprobe: float) -> ServiceRecord:
    """A record for `entry`, carrying on from `saved` (the previous daemon's snapshot entry for
    the same section, or None). now: monotonic; wall: the time a fresh record starts with."""
    record = ServiceRecord(entry, since=wall)
    if saved is None:
        return record
    wrong = service_problem(saved)
    if wrong:  # a state file is untrusted input: a wrong type must not stop the daemon
        LOG.warning("%s: the previous daemon's state is not usable (%s); starting afresh",
                    entry.section, wrong)
        return record
    assert isinstance(saved, dict)  # service_problem found none: the SERVICE record shape is a dict
    before = ServiceSnapshot.from_dict(saved)
    if before.processname != entry.processname:
        return record
    record.since = before.since or record.since
    record.restarts.extend(t for t in before.restart_monotonic if t <= now)
    record.restarted_at = before.restarted_at
    record.last_action, record.last_outcome = before.last_action, before.last_outcome
    record.seen_up = before.seen_up
    record.restarts_total = before.restarts_total
    record.restart_failures_total = before.restart_failures_total
    if before.seen_pid is not None and before.seen_start_ticks is not None:
        record.seen = ProcessIdentity(before.seen_pid, entry.processname, "",
                                      wall_time_of(before.seen_start_ticks), before.seen_start_ticks)
    if before.crash_loop:
        # Already alerted as crash looping: the ladder goes on where it was, and a restart
        # still on trial is judged by its own start, not by this daemon's.
        record.crash_loop, record.down_alerted = True, before.down_alerted
        record.failed_attempts = before.failed_attempts
        trial = before.on_trial_monotonic
        if trial is not None and trial <= now:
            record.phase, record.due = Phase.TRIAL, trial
    if before.state == ServiceState.DOWN.value and before.down_alerted:
        # Already alerted: no second "trying recover"; the ladder (or parking) goes on.
        record.state, record.down_alerted = ServiceState.DOWN, True
        record.failed_attempts = before.failed_attempts
        record.parked, record.blocked = before.parked, before.blocked
        record.reason = before.reason or record.reason
        record.last_reminder = now
        record.phase = Phase.WAITING
        record.due = now + (parked_reprobe if record.parked else 0.0)
    return record
