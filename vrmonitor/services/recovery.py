"""One recovery attempt, run in a worker thread: config test, orphans, init system restart."""

import logging
import os

from vrmonitor.clock import SystemClock
from vrmonitor.services.configtest import ConfigGate
from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.services.lifecycle import Outcome
from vrmonitor.services.orphans import kill_orphans, owner_of
from vrmonitor.system.identity import PidfileProblem, ProcessIdentity, identify, read_pidfile
from vrmonitor.system.initsys import RECOVERING, RESET_AND_RESTART, STOPPED, UNKNOWN
from vrmonitor.system.safepath import open_folder

LOG = logging.getLogger(__name__)

# Processes whose workers outlive a dead master and block the restart (test-environment.md).
ORPHAN_PRONE = {"apache2"}
# apache2's workers ignore SIGTERM: waiting long for them only delays the restart.
ORPHAN_GRACE = 0.5
# How long a unit with Restart= gets to bring its service back before systemd is asked why
# not (a start limit, a stop on purpose, a longer RestartSec=): a question to PID 1 while it
# starts the unit only slows that start down. The looks in between read a pidfile and /proc.
OWN_RESTART_PATIENCE = 2.0
FIRST_LOOK, LONGEST_LOOK = 0.02, 0.25


def recover(entry, init, override=None, restart_timeout: float = 60.0,
            gate: ConfigGate | None = None, seen: ProcessIdentity | None = None,
            clock=SystemClock()) -> Outcome:
    """Try to bring `entry` back once; never raises for an expected failure.

    gate: the daemon's ConfigGate (remembers configurations that passed); a fresh one tests.
    seen: the service's process last seen up, to tell a namesake on its PID."""
    service = entry.servicename or entry.processname
    if _back_already(entry, seen) or (init.restarts_itself(service)
                                      and _comes_back(entry, seen, clock)):
        return _running_again(service, init)
    assessment = init.assess(service)
    if assessment.verdict == UNKNOWN:
        return Outcome("unknown", f"{init.name} has no service {service!r}")
    if assessment.verdict == RECOVERING:  # never fight the unit's own Restart= or a job
        return Outcome("deferred", f"systemd is starting {service} itself ({assessment.detail})")
    if assessment.verdict == STOPPED:
        return Outcome("stopped", f"{service} was stopped on purpose ({assessment.detail}); "
                                  f"'systemctl start {service}' resumes it")
    if _back_already(entry, seen):
        # Started meanwhile by someone else (systemd's Restart= finishing between the crash
        # and this job, an operator): a restart now would be a second one.
        return _running_again(service, init)
    test = (gate or ConfigGate()).check(entry.processname, override.config_test if override else None)
    if test is not None and not test.ok:
        return Outcome("config", test.detail)
    if entry.processname in ORPHAN_PRONE:
        killed = kill_orphans(entry.processname, grace=ORPHAN_GRACE,
                              owner=owner_of(service, init.name, _last_master(entry, seen)))
        if killed:
            LOG.info("killed orphaned %s processes %s before restarting", entry.processname, killed)
    discard_stale_pidfile(entry, seen)
    if assessment.verdict == RESET_AND_RESTART:
        LOG.info("%s is failed (%s): reset-failed before the restart", service, assessment.detail)
        init.reset_failed(service)
    result = init.restart(service, timeout=restart_timeout)
    return Outcome("restarted" if result.ok else "failed", result.detail)


def _running_again(service: str, init) -> Outcome:
    return Outcome("deferred", f"{service} is running again, started by {init.name} or an operator")


def _comes_back(entry, seen: ProcessIdentity | None, clock) -> bool:
    """Whether the service is back within OWN_RESTART_PATIENCE, looked at ever less often."""
    deadline = clock.monotonic() + OWN_RESTART_PATIENCE
    pause = FIRST_LOOK
    while clock.monotonic() < deadline:
        clock.sleep(pause)
        if _back_already(entry, seen):
            return True
        pause = min(pause * 2, LONGEST_LOOK)
    return False


def _last_master(entry, seen: ProcessIdentity | None) -> ProcessIdentity | None:
    """The service's main process as last known: the one seen up, else (a one-shot pass has
    seen nothing) the dead PID its pidfile names. A PID is not handed out again while it is a
    live process's session or group id, so the dead master's workers are the only ones with
    it; a live process on that PID proves nothing, and then there is no master."""
    if seen is not None:
        return seen
    try:
        pid = read_pidfile(entry.pidfile) if entry.pidfile else None
    except PidfileProblem:
        return None
    if pid is None or identify(pid) is not None:
        return None
    return ProcessIdentity(pid, entry.processname, "", 0.0, 0)  # start unknown: not older than any


def _back_already(entry, seen: ProcessIdentity | None) -> bool:
    """The service's process is up again, and it is not the one last seen (that one died)."""
    observed = observe(entry.processname, entry.pidfile, seen)
    return observed.state is ServiceState.UP and (
        seen is None or observed.identity is None or observed.identity.pid != seen.pid
        or observed.identity.start_ticks != seen.start_ticks)


def discard_stale_pidfile(entry, seen: ProcessIdentity | None = None) -> None:
    """Remove a pidfile whose PID now belongs to a namesake started after it was written.

    Left in place, the init script's restart would stop that unrelated process (it matches
    the pidfile's PID and the executable's name) and then refuse to start the service because
    "it is already running"."""
    observed = observe(entry.processname, entry.pidfile, seen)
    if not observed.stale_pidfile:
        return
    try:
        _unlink_in_checked_folder(entry.pidfile)
    except FileNotFoundError:
        return
    except OSError as exc:  # UnsafePath included: a folder on the way was swapped for a symlink
        LOG.warning("cannot remove %s before restarting %s: %s", entry.pidfile, entry.processname, exc)
        return
    LOG.warning("removed %s before restarting %s: %s", entry.pidfile, entry.processname, observed.reason)


def _unlink_in_checked_folder(pidfile: str) -> None:
    """Unlink `pidfile` in its folder reached by safepath: the folders on the way may belong to
    the service's user, who could swap one for a symlink between the look and the unlink and
    have root remove a file of that name anywhere."""
    folder = open_folder(os.path.dirname(os.path.abspath(pidfile)))
    try:
        os.unlink(os.path.basename(pidfile), dir_fd=folder)
    finally:
        os.close(folder)
