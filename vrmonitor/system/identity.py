"""Process identity: who a PID really is.

A PID alone proves nothing: pidfiles go stale and PIDs are reused. A process is identified by
PID, start time and name (`/proc/PID/comm`, which sshd's command-line rewriting leaves alone)
or executable. A zombie is dead, whatever `kill -0` says.
"""

import os
from dataclasses import dataclass

import psutil

# /proc/PID/comm holds at most 15 characters of the name.
COMM_LENGTH = 15


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    name: str
    exe: str  # empty when it cannot be read
    start_time: float  # seconds since the epoch, as the kernel recorded it


class PidfileProblem(Exception):
    """The pidfile is absent, unreadable or does not hold a PID; str() says which."""


def read_pidfile(path: str) -> int:
    """The PID in `path` (first line, surrounding whitespace ignored)."""
    try:
        with open(path, "rb") as handle:
            text = handle.read(64)
    except FileNotFoundError:
        raise PidfileProblem(f"pidfile {path} is missing") from None
    except OSError as exc:
        raise PidfileProblem(f"pidfile {path} cannot be read: {exc.strerror}") from None
    first = text.split(b"\n", 1)[0].strip()
    if not first.isdigit() or int(first) <= 0:
        shown = first[:20].decode("ascii", "replace") if first else "nothing"
        raise PidfileProblem(f"pidfile {path} holds {shown!r}, not a PID")
    return int(first)


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of a live process, or None when it is gone or a zombie."""
    try:
        process = psutil.Process(pid)
        with process.oneshot():
            if process.status() == psutil.STATUS_ZOMBIE:
                return None
            name = process.name()
            start_time = process.create_time()
            try:
                exe = process.exe()
            except (psutil.AccessDenied, psutil.ZombieProcess):
                exe = ""
    except (psutil.NoSuchProcess, psutil.ZombieProcess):
        return None
    return ProcessIdentity(pid, name, exe, start_time)


def is_named(identity: ProcessIdentity, processname: str) -> bool:
    """Whether the process is `processname`, by its name or its executable's file name."""
    return (identity.name == processname
            or identity.name == processname[:COMM_LENGTH]
            or os.path.basename(identity.exe) == processname)


def pids_named(processname: str) -> list[int]:
    """Live, non-zombie PIDs whose name or executable is `processname` (like `pidof`)."""
    found = []
    for process in psutil.process_iter(["name", "exe", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        exe = os.path.basename(info["exe"] or "")
        if info["name"] in (processname, processname[:COMM_LENGTH]) or exe == processname:
            found.append(process.pid)
    return found
