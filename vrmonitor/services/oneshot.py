"""One monitoring pass without the daemon, for a basic run when the daemon is not running.

What the reference did from cron, without its sleeps: each service is judged once and, when
down, recovered once (config test, orphans, restart) and judged again.
"""

from vrmonitor.clock import SystemClock
from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.services.lifecycle import SETTLE
from vrmonitor.services.recovery import recover
from vrmonitor.services.snapshot import ServiceSnapshot


def one_pass(entries, init, alerts, overrides, clock=SystemClock()) -> dict:
    """A snapshot like the daemon's (section -> state, restarted_at, reason, ...).
    clock: monotonic(), wall() and sleep() (vrmonitor.clock)."""
    snapshot = {}
    for entry in entries:
        seen = observe(entry.processname, entry.pidfile)
        restarted_at = None
        if seen.state is not ServiceState.UP:
            alerts.write("INFO", entry.processname,
                         f"The process {entry.processname} is not running trying recover")
            outcome = recover(entry, init, overrides(entry.section))
            if outcome.kind == "restarted":
                seen = _settle(entry, clock)
            if seen.state is ServiceState.UP:
                restarted_at = clock.wall()
                name = entry.servicename or entry.processname
                alerts.write("INFO", name, f"The process {name} is recovered successfully ")
            else:
                alerts.write("ALERT", entry.processname,
                             f"The process {entry.processname} recover failed: {outcome.detail or seen.reason}")
        snapshot[entry.section] = ServiceSnapshot(
            processname=entry.processname, servicename=entry.servicename, state=seen.state.value,
            reason=seen.reason, restarted_at=restarted_at).to_dict()
    return snapshot


def _settle(entry, clock):
    end = clock.monotonic() + SETTLE
    while True:
        seen = observe(entry.processname, entry.pidfile)
        if seen.state is ServiceState.UP or clock.monotonic() >= end:
            return seen
        clock.sleep(0.1)
