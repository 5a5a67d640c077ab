"""The daemon's agent job: every second on a system VM, at the verification interval elsewhere."""

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


def test_on_a_router_the_loop_is_not_woken_every_second():
    watch, refreshed = _watch([False])
    watch.tick(0.0)
    assert watch.next_due() == 10.0
    watch.tick(5.0)  # another job's turn: nothing to do, the due time stays
    assert watch.next_due() == 10.0 and refreshed == []


def test_a_role_that_arrives_later_starts_the_refresh_at_the_next_look():
    roles = [False]
    watch, refreshed = _watch(roles)
    watch.tick(0.0)
    roles[0] = True
    watch.tick(10.0)
    assert refreshed == [True] and watch.next_due() == 11.0
