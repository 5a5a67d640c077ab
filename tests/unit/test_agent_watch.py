"""The daemon's agent job: every second on a system VM; elsewhere it looks at the role on turns the
loop takes anyway, at most every verification interval, and never wakes the loop."""

import math

from vrmonitor.daemon.agent_watch import AgentWatch


def _watch(roles):
    refreshed = []
    watch = AgentWatch(lambda: roles[0], lambda: refreshed.append(True), 1.0, lambda: 10.0)
    return watch, refreshed


def test_on_a_system_vm_the_agent_is_looked_for_every_second():
    watch, refreshed = _watch([True])
    for now in (0.0, 0.5, 1.0, 1.9, 2.0):
        if now >= watch.next_due():
            watch.tick(now)
    assert len(refreshed) == 3 and watch.next_due() == 3.0


def test_on_a_router_the_job_never_wakes_the_loop():
    roles = [False]
    looks = []
    watch = AgentWatch(lambda: looks.append(True) or roles[0], lambda: None, 1.0, lambda: 10.0)
    assert watch.next_due() == 0.0  # the first turn looks
    watch.tick(0.0)
    assert watch.next_due() == math.inf
    watch.tick(5.0)  # another job's turn: too soon to look again
    watch.tick(10.0)  # a turn at or after the recheck time looks
    assert len(looks) == 2 and watch.next_due() == math.inf


def test_a_role_that_arrives_later_starts_the_refresh_at_the_next_look():
    roles = [False]
    watch, refreshed = _watch(roles)
    watch.tick(0.0)
    roles[0] = True
    watch.tick(12.5)  # the first turn of the loop after the recheck time
    assert refreshed == [True] and watch.next_due() == 13.5
