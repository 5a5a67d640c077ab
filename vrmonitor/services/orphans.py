"""Orphans: processes of a dead service that outlived their parent.

When apache2's master dies, its workers are re-parented, keep the port and keep answering,
and `service apache2 restart` refuses to touch processes that do not match the pidfile. The
recovery is to kill them by PID. Each process is pinned with a pidfd and its name and start
time checked before any signal, so a PID reused in the meantime is never hit.

Only the service's own processes are killed, never a namesake someone else runs (another
user's apache2, a copy of a binary that happens to bear the name). What marks them is an
`Owner`: under systemd the unit's cgroup, which only root can put a process in; otherwise the
session of the master last seen up, which its workers keep after it dies, and the users the
service runs as. When nothing marks them, nothing is killed.
"""

import logging
import os
import pwd
import re
import select
import signal
from collections.abc import Set
from dataclasses import dataclass

from vrmonitor.clock import SystemClock
from vrmonitor.system.identity import ProcessIdentity, identify, is_named, pids_named, read_stat
from vrmonitor.system.proc_stat import still_running

LOG = logging.getLogger(__name__)

# apache2's workers run as APACHE_RUN_USER, set in this file (www-data unless changed).
APACHE_ENVVARS = "/etc/apache2/envvars"
APACHE_RUN_USER = "www-data"
_RUN_USER_LINE = re.compile(
    r"""^\s*(?:export\s+)?APACHE_RUN_USER=["']?([A-Za-z0-9_][A-Za-z0-9_.-]*)["']?\s*$""")


@dataclass(frozen=True)
class Owner:
    """What makes a process the service's own, and so one that may be killed.

    unit: under systemd, the unit (`apache2.service`) whose cgroup holds the processes.
    master: otherwise, the service's main process last seen up; its workers have its PID as
    their session or process group, started no earlier, and run as one of `uids` only."""
    unit: str = ""
    master: ProcessIdentity | None = None
    uids: frozenset[int] = frozenset({0})

    def __str__(self) -> str:
        if self.unit:
            return f"the cgroup of {self.unit}"
        if self.master is not None:
            return f"the session of PID {self.master.pid}, uids {sorted(self.uids)}"
        return "nothing"


def owner_of(service: str, init_name: str, seen: ProcessIdentity | None,
             envvars: str = APACHE_ENVVARS) -> Owner:
    """The Owner of `service`'s processes, for the init system named `init_name`.

    seen: the service's main process last seen up; without systemd, and without it, the
    service's processes cannot be told from a namesake's: the Owner then marks none."""
    if init_name == "systemd":
        return Owner(unit=service if service.endswith(".service") else f"{service}.service")
    return Owner(master=seen, uids=frozenset({0, _run_uid(envvars)}))


def _run_uid(envvars: str) -> int:
    """The uid of APACHE_RUN_USER in `envvars`; www-data's when unset there; root's if unknown."""
    name = APACHE_RUN_USER
    try:
        with open(envvars, encoding="utf-8", errors="replace") as handle:
            for line in handle:
                match = _RUN_USER_LINE.match(line)
                if match:
                    name = match.group(1)
    except OSError as exc:
        LOG.debug("cannot read %s (%s): apache2 runs as %s", envvars, exc, name)
    try:
        return pwd.getpwnam(name).pw_uid
    except KeyError:  # no such user: its workers cannot exist either
        return 0


def owns(owner: Owner, identity: ProcessIdentity, proc: str = "/proc") -> bool:
    """Whether the process `identity` is one of `owner`'s; reads `<proc>/PID/...`.

    Its stat is read last and must show the same start ticks: the other files read were then
    this process's, not a successor's on the same PID."""
    base = os.path.join(proc, str(identity.pid))
    try:
        if owner.unit:
            with open(os.path.join(base, "cgroup"), encoding="utf-8", errors="replace") as handle:
                owned = _in_unit(handle.read(), owner.unit)
        elif owner.master is not None:
            with open(os.path.join(base, "status"), encoding="utf-8", errors="replace") as handle:
                uids = _uids(handle.read())
            owned = bool(uids) and uids <= owner.uids
        else:
            return False
        with open(os.path.join(base, "stat"), "rb") as handle:
            fields = handle.read().decode("utf-8", "replace").rpartition(")")[2].split()
    except (FileNotFoundError, ProcessLookupError):
        return False
    pgrp, session, start_ticks = int(fields[2]), int(fields[3]), int(fields[19])
    if start_ticks != identity.start_ticks:
        return False
    if owner.unit:
        return owned
    assert owner.master is not None  # neither unit nor master returned False above
    # A PID of the dead master reused by someone else's setsid() gives a matching session too:
    # the uid check above refuses it unless that someone is root or the run user.
    return (owned and owner.master.pid in (session, pgrp)
            and start_ticks >= owner.master.start_ticks)


def _in_unit(cgroup: str, unit: str) -> bool:
    """Whether /proc/PID/cgroup text puts the process in systemd unit `unit` (or below it).

    Only the hierarchies systemd keeps (cgroup v2's "0::", v1's "name=systemd") count. The
    unit is the first path component that is not a slice, so a user manager's own
    `.../user@1000.service/app.slice/apache2.service` is not the system's apache2.service."""
    for line in cgroup.splitlines():
        _, _, rest = line.partition(":")  # hierarchy-ID:controllers:path
        controllers, _, path = rest.partition(":")
        if controllers not in ("", "name=systemd"):
            continue
        parts = [part for part in path.split("/") if part]
        first = next((part for part in parts if not part.endswith(".slice")), "")
        if first == unit:
            return True
    return False


def _uids(status: str) -> frozenset[int]:
    """Real, effective, saved and filesystem uids from /proc/PID/status text."""
    for line in status.splitlines():
        if line.startswith("Uid:"):
            return frozenset(int(uid) for uid in line.split()[1:])
    return frozenset()

# After SIGKILL: how long to wait for the kernel to finish the processes off.
KILL_WAIT = 2.0
# And for their new parent (PID 1) to reap them: until then they are zombies that init
# scripts still count ("processes named 'apache2' running which do not match your pid file").
REAP_WAIT = 5.0


class _Target:
    """One process to kill, pinned by a pidfd when the kernel offers them."""

    def __init__(self, identity: ProcessIdentity, pidfd: int | None):
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


def kill_orphans(processname: str, keep: Set[int] = frozenset(), grace: float = 2.0, *,
                 owner: Owner, proc: str = "/proc", clock=SystemClock()) -> list[int]:
    """Kill the live processes named `processname` that `owner` owns, but not `keep`; their PIDs.

    SIGTERM first, SIGKILL to those still alive after `grace` seconds. Only for a service
    that is down. proc: where /proc is, for the ownership reads; clock: monotonic() and sleep().
    """
    if not owner.unit and owner.master is None:
        LOG.warning("%s processes left behind, if any, are not killed: without the init "
                    "system's cgroup or the master last seen up, the service's own cannot be "
                    "told from another user's", processname)
        return []
    targets = _pin(processname, set(keep) | {os.getpid()}, owner, proc)
    try:
        killed = [target.pid for target in targets if target.signal(signal.SIGTERM)]
        if killed:
            LOG.info("sent SIGTERM to %s processes left behind: %s", processname,
                     " ".join(map(str, killed)))
        survivors = _wait(targets, grace, clock)
        for target in survivors:
            if target.signal(signal.SIGKILL):
                LOG.warning("%s PID %d ignored SIGTERM for %.1f s: sent SIGKILL",
                            processname, target.pid, grace)
        for target in _wait(survivors, KILL_WAIT, clock):
            LOG.warning("%s PID %d still alive after SIGKILL", processname, target.pid)
        _wait_reaped([t.identity for t in targets], REAP_WAIT, clock)
        return killed
    finally:
        for target in targets:
            target.close()


def _pin(processname: str, keep: set[int], owner: Owner, proc: str) -> list[_Target]:
    """The processes to kill, each pinned, then checked to be the one that was listed."""
    targets: list[_Target] = []
    for pid in pids_named(processname):
        if pid in keep:
            continue
        try:
            pidfd = _pidfd_open(pid)
        except ProcessLookupError:
            continue
        identity = identify(pid)
        # Read after pinning and the pinned process still alive after the read: the /proc
        # entry read was this process, not a successor that took over its PID.
        if identity is None or not is_named(identity, processname):
            if pidfd is not None:
                os.close(pidfd)
            continue
        target = _Target(identity, pidfd)
        owned = owns(owner, identity, proc)
        if target.dead():
            target.close()
            continue
        if not owned:
            LOG.info("left %s PID %d alone: not in %s", processname, pid, owner)
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


def _wait(targets: list[_Target], within: float, clock) -> list[_Target]:
    """Those of `targets` still alive after waiting up to `within` seconds for them to exit."""
    deadline = clock.monotonic() + within
    alive = [target for target in targets if not target.dead()]
    while alive and clock.monotonic() < deadline:
        clock.sleep(min(0.05, max(deadline - clock.monotonic(), 0)))
        alive = [target for target in alive if not target.dead()]
    return alive


def _wait_reaped(identities: list[ProcessIdentity], within: float, clock) -> None:
    """Wait until none of these processes exists any more, zombies included."""
    end = clock.monotonic() + within
    pending = list(identities)
    while pending and clock.monotonic() < end:
        pending = [i for i in pending if _still_listed(i)]
        if pending:
            clock.sleep(0.05)
    for identity in pending:
        LOG.warning("%s PID %d is not reaped yet", identity.name, identity.pid)


def _still_listed(identity: ProcessIdentity) -> bool:
    """The process is in /proc, alive or zombie, with the same start time (not a reused PID).

    A child of this very process is not waited for: only its parent (our caller) reaps it."""
    stat = read_stat(identity.pid)
    return stat is not None and stat.start_ticks == identity.start_ticks and stat.ppid != os.getpid()
