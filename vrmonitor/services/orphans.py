"""Orphans: processes of a dead service that outlived their parent.

When apache2's master dies, its workers are re-parented, keep the port and keep answering,
and `service apache2 restart` refuses to touch processes that do not match the pidfile. The
recovery is to kill them by PID. Each process is pinned with a pidfd and its name and start
time checked before any signal, so a PID reused in the meantime is never hit.
"""

import logging
import os
import select
import signal
import time

from vrmonitor.system.identity import (ProcessIdentity, identify, is_named, pids_named, read_stat,
                                       still_running)

LOG = logging.getLogger(__name__)

# After SIGKILL: how long to wait for the kernel to finish the processes off.
KILL_WAIT = 2.0
# And for their new parent (PID 1) to reap them: until then they are zombies that init
# scripts still count ("processes named 'apache2' running which do not match your pid file").
REAP_WAIT = 5.0


class _Target:
    """One process to kill, pinned by a pidfd when the kernel offers them."""

    def __init__(self, identity: ProcessIdentity | None, pidfd: int | None):
        self.identity = identity
        self.pidfd = pidfd

    @property
    def pid(self) -> int:
        return self.identity.pid

    def signal(self, signum: int) -> bool:
        """Send `signum`; False when the process is already gone."""
        try:
            if self.pidfd is not None:
                signal.pidfd_send_signal(self.pidfd, signum)
            elif still_running(self.identity.pid, self.identity.start_ticks):
                os.kill(self.pid, signum)
            else:
                return False
        except ProcessLookupError:
            return False
        return True

    def dead(self) -> bool:
        """Exited (a zombie counts) or gone."""
        if self.pidfd is not None:
            readable, _, _ = select.select([self.pidfd], [], [], 0)
            return bool(readable)
        return not still_running(self.identity.pid, self.identity.start_ticks)

    def close(self) -> None:
        if self.pidfd is not None:
            os.close(self.pidfd)
            self.pidfd = None


def kill_orphans(processname: str, keep: set[int] = frozenset(), grace: float = 2.0) -> list[int]:
    """Kill every live process named `processname` except the PIDs in `keep`; their PIDs.

    SIGTERM first, SIGKILL to those still alive after `grace` seconds. Only for a service
    that is down: it does not ask whose process each one is.
    """
    targets = _pin(processname, set(keep) | {os.getpid()})
    try:
        killed = [target.pid for target in targets if target.signal(signal.SIGTERM)]
        if killed:
            LOG.info("sent SIGTERM to %s processes left behind: %s", processname,
                     " ".join(map(str, killed)))
        survivors = _wait(targets, grace)
        for target in survivors:
            if target.signal(signal.SIGKILL):
                LOG.warning("%s PID %d ignored SIGTERM for %.1f s: sent SIGKILL",
                            processname, target.pid, grace)
        for target in _wait(survivors, KILL_WAIT):
            LOG.warning("%s PID %d still alive after SIGKILL", processname, target.pid)
        _wait_reaped([t.identity for t in targets if t.identity], REAP_WAIT)
        return killed
    finally:
        for target in targets:
            target.close()


def _pin(processname: str, keep: set[int]) -> list[_Target]:
    """The processes to kill, each pinned, then checked to be the one that was listed."""
    targets = []
    for pid in pids_named(processname):
        if pid in keep:
            continue
        try:
            pidfd = _pidfd_open(pid)
        except ProcessLookupError:
            continue
        identity = identify(pid)
        target = _Target(identity, pidfd)
        # Read after pinning and the pinned process still alive after the read: the /proc
        # entry read was this process, not a successor that took over its PID.
        if identity is None or not is_named(identity, processname) or target.dead():
            target.close()
            continue
        targets.append(target)
    return targets


def _pidfd_open(pid: int) -> int | None:
    """A pidfd for `pid`; None when the kernel has none to give. ProcessLookupError if gone."""
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        raise
    except (AttributeError, OSError) as exc:  # an old kernel: fall back to start times
        LOG.debug("pidfd_open(%d) unavailable: %s", pid, exc)
        return None


def _wait(targets: list[_Target], within: float) -> list[_Target]:
    """Those of `targets` still alive after waiting up to `within` seconds for them to exit."""
    deadline = time.monotonic() + within
    alive = [target for target in targets if not target.dead()]
    while alive and time.monotonic() < deadline:
        time.sleep(min(0.05, max(deadline - time.monotonic(), 0)))
        alive = [target for target in alive if not target.dead()]
    return alive


def _wait_reaped(identities: list[ProcessIdentity], within: float) -> None:
    """Wait until none of these processes exists any more, zombies included."""
    end = time.monotonic() + within
    pending = list(identities)
    while pending and time.monotonic() < end:
        pending = [i for i in pending if _still_listed(i)]
        if pending:
            time.sleep(0.05)
    for identity in pending:
        LOG.warning("%s PID %d is not reaped yet", identity.name, identity.pid)


def _still_listed(identity: ProcessIdentity) -> bool:
    """The process is in /proc, alive or zombie, with the same start time (not a reused PID).

    A child of this very process is not waited for: only its parent (our caller) reaps it."""
    stat = read_stat(identity.pid)
    return stat is not None and stat.start_ticks == identity.start_ticks and stat.ppid != os.getpid()
