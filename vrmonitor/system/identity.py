"""Process identity: who a PID really is.

A PID alone proves nothing: pidfiles go stale and PIDs are reused. A process is identified by
PID, start time and name (`/proc/PID/comm`, which sshd's command-line rewriting leaves alone)
or executable. A zombie is dead, whatever `kill -0` says.

Two sightings are the same process when PID and start ticks match. The ticks (clock ticks from
boot to the process's start, /proc/PID/stat) are exact and never move. A start time in wall
clock terms (what psutil's create_time gives) is derived from the boot time /proc/stat reports
now, which moves with every step of the wall clock: compared across a step, or across two
processes that read it on either side of one, it would call the same process another.
"""

import os
from dataclasses import dataclass, field

from vrmonitor.system.proc_stat import stat_fields
from vrmonitor.system.safepath import read_regular, readable_by_others

# /proc/PID/comm holds at most 15 characters of the name.
COMM_LENGTH = 15
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PIDFILE_LIMIT = 64  # a PID and a newline, with room; the rest of a longer file is not read


@dataclass(frozen=True)
class ProcessIdentity:
    pid: int
    name: str
    exe: str  # empty when it cannot be read
    # Seconds since the epoch on the wall clock as it is now: approximate, and not compared.
    start_time: float = field(compare=False)
    start_ticks: int  # clock ticks from boot to the start: exact; what proves it is the same process


@dataclass(frozen=True)
class ProcStat:
    """The fields of /proc/PID/stat used here."""
    name: str  # comm
    state: str  # R, S, D, Z, ...
    ppid: int
    start_ticks: int


def read_stat(pid: int) -> ProcStat | None:
    """/proc/PID/stat, zombies included; None when there is no such process."""
    fields = stat_fields(pid)
    return None if fields is None else ProcStat(*fields)


def wall_time_of(ticks: int) -> float:
    """When a process started `ticks` after boot, in seconds since the epoch on today's clock.

    The boot time is the kernel's (/proc/stat, a whole second, so up to a second early): the
    same clock as the kernel's file times, which this is compared with."""
    import psutil  # here: proc_stat.still_running(), all a cron run handed to the daemon asks, needs none

    return psutil.boot_time() + ticks / CLOCK_TICKS


class PidfileProblem(Exception):
    """The pidfile is absent, unreadable or does not hold a PID; str() says which."""


@dataclass(frozen=True)
class Pidfile:
    pid: int
    written: float  # mtime, on the kernel's clock of file times


def load_pidfile(path: str) -> Pidfile:
    """The PID in `path` (first line, surrounding whitespace ignored), and when it was written.

    A pidfile's folder often belongs to the service's user, who can put a FIFO or a symlink in
    its place: it is read as untrusted input (safepath.read_regular), and its content is quoted
    in a reason only when anyone may read the file anyway (reasons reach daemon.json)."""
    try:
        text, info = read_regular(path, PIDFILE_LIMIT)
    except FileNotFoundError:
        raise PidfileProblem(f"pidfile {path} is missing") from None
    except OSError as exc:
        raise PidfileProblem(f"pidfile {path} cannot be read: {exc.strerror}") from None
    first = text.split(b"\n", 1)[0].strip()
    if not first.isdigit() or int(first) <= 0:
        if not readable_by_others(info):
            raise PidfileProblem(f"pidfile {path} does not hold a PID (its content is not "
                                 f"shown: mode {info.st_mode & 0o777:04o})")
        shown = first[:20].decode("ascii", "replace") if first else "nothing"
        raise PidfileProblem(f"pidfile {path} holds {shown!r}, not a PID")
    return Pidfile(int(first), info.st_mtime)


def read_pidfile(path: str) -> int:
    """The PID in `path` (see load_pidfile)."""
    return load_pidfile(path).pid


def identify(pid: int) -> ProcessIdentity | None:
    """The identity of a live process, or None when it is gone or a zombie."""
    stat = read_stat(pid)
    if stat is None or stat.state == "Z":
        return None
    try:
        exe = os.readlink(f"/proc/{pid}/exe")
    except OSError:  # a kernel thread, not ours to read, or gone meanwhile
        exe = ""
    if exe.endswith(" (deleted)"):  # replaced on disk (an upgrade) while it runs
        exe = exe[:-len(" (deleted)")]
    # The exe read must be of the process whose stat was read, not of a successor on its PID.
    again = read_stat(pid)
    if again is None or again.start_ticks != stat.start_ticks or again.state == "Z":
        return None
    return ProcessIdentity(pid, stat.name, exe, wall_time_of(stat.start_ticks), stat.start_ticks)


def same_process(a: ProcessIdentity, b: ProcessIdentity) -> bool:
    return a.pid == b.pid and a.start_ticks == b.start_ticks


def is_named(identity: ProcessIdentity, processname: str) -> bool:
    """Whether the process is `processname`, by its name or its executable's file name."""
    return (identity.name == processname
            or identity.name == processname[:COMM_LENGTH]
            or os.path.basename(identity.exe) == processname)


def pids_named(processname: str) -> list[int]:
    """Live, non-zombie PIDs whose name or executable is `processname` (like `pidof`)."""
    import psutil

    found = []
    for process in psutil.process_iter(["name", "exe", "status"]):
        info = process.info
        if info["status"] == psutil.STATUS_ZOMBIE:
            continue
        exe = os.path.basename(info["exe"] or "")
        if info["name"] in (processname, processname[:COMM_LENGTH]) or exe == processname:
            found.append(process.pid)
    return found
