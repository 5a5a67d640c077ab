"""Detection: is a monitored service up, judged from its pidfile and the process it names.

Up only if the pidfile names a live, non-zombie process called `processname` and that process
is the service's:
- when that PID was seen up before, it must be the very process seen (same start ticks);
  otherwise the PID was reused. This is exact and no clock step can fool it;
- else the pidfile must not be older than the process: a service writes its pidfile after it
  starts, so an older pidfile was left by a previous instance and merely names a namesake.
  This compares the pidfile's mtime with the wall clock, so it is the rule of last resort.
"""

from dataclasses import dataclass
from enum import Enum

from vrmonitor.system.identity import (PidfileProblem, ProcessIdentity, identify, is_named,
                                       load_pidfile, same_process)

# Slack between a process's start and its pidfile's mtime (filesystems with whole-second
# timestamps, clock tick granularity).
PIDFILE_SLACK = 1.0


class ServiceState(Enum):
    UP = "up"
    DOWN = "down"
    DEGRADED = "degraded"  # alive but failing its functional probe


@dataclass(frozen=True)
class Observation:
    state: ServiceState
    identity: ProcessIdentity | None  # the process judged up, else None
    reason: str  # for people: why it is judged so
    # The pidfile names a live namesake that started after it was written: a reused PID. An init
    # script's `stop` would signal that unrelated process (start-stop-daemon matches name + PID).
    stale_pidfile: bool = False


def observe(processname: str, pidfile: str | None,
            known: ProcessIdentity | None = None) -> Observation:
    """Judge one service now. `known` is the identity recorded when it was last seen up."""
    if not pidfile:
        return _down("no pidfile configured")
    try:
        read = load_pidfile(pidfile)
    except PidfileProblem as problem:
        return _down(str(problem))
    pid = read.pid
    identity = identify(pid)
    if identity is None:
        return _down(f"pidfile {pidfile} names PID {pid}, which is not running")
    if not is_named(identity, processname):
        return _down(f"pidfile {pidfile} names PID {pid}, which is {identity.name!r}, "
                     f"not {processname!r}")
    if known is not None and known.pid == pid:
        if same_process(known, identity):
            return Observation(ServiceState.UP, identity, f"{processname} running as PID {pid}")
        return Observation(ServiceState.DOWN, None, f"pidfile {pidfile} is stale: PID {pid} was "
                           f"reused by another {identity.name} (started at "
                           f"{identity.start_time:.2f}; the one seen before at "
                           f"{known.start_time:.2f})", stale_pidfile=True)
    if read.written < identity.start_time - PIDFILE_SLACK:
        return Observation(ServiceState.DOWN, None, f"pidfile {pidfile} is stale: written before "
                           f"PID {pid} ({identity.name}) started", stale_pidfile=True)
    return Observation(ServiceState.UP, identity, f"{processname} running as PID {pid}")


def _down(reason: str) -> Observation:
    return Observation(ServiceState.DOWN, None, reason)
