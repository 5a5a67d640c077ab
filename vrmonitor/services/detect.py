"""Detection: is a monitored service up, judged from its pidfile and the process it names.

Up only if the pidfile names a live, non-zombie process called `processname`, the pidfile is
not older than that process (a service writes its pidfile after it starts, so an older pidfile
was left by a previous instance and merely names a namesake), and, when that PID was seen
before, the process has the same start time (otherwise the PID was reused).
"""

import os
from dataclasses import dataclass
from enum import Enum

# Slack between a process's recorded start time and its pidfile's mtime (clock tick granularity,
# filesystems with coarse timestamps).
PIDFILE_SLACK = 1.0

from vrmonitor.system.identity import (PidfileProblem, ProcessIdentity, identify, is_named,
                                       read_pidfile)


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
        pid = read_pidfile(pidfile)
    except PidfileProblem as problem:
        return _down(str(problem))
    identity = identify(pid)
    if identity is None:
        return _down(f"pidfile {pidfile} names PID {pid}, which is not running")
    if not is_named(identity, processname):
        return _down(f"pidfile {pidfile} names PID {pid}, which is {identity.name!r}, "
                     f"not {processname!r}")
    try:
        written = os.stat(pidfile).st_mtime
    except OSError:
        written = None
    if written is not None and written < identity.start_time - PIDFILE_SLACK:
        return Observation(ServiceState.DOWN, None, f"pidfile {pidfile} is stale: written before "
                           f"PID {pid} ({identity.name}) started", stale_pidfile=True)
    if known is not None and known.pid == pid and known.start_time != identity.start_time:
        return _down(f"PID {pid} was reused: started at {identity.start_time:.2f}, "
                     f"the {processname} seen before started at {known.start_time:.2f}")
    return Observation(ServiceState.UP, identity, f"{processname} running as PID {pid}")


def _down(reason: str) -> Observation:
    return Observation(ServiceState.DOWN, None, reason)
