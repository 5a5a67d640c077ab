"""Processes found by an argument of their command line (for a service that writes no pidfile).

Any user can run a process with any command line (and name it `java`): only processes run by
root, or by this process's own user, are found. The services searched for run as root, and
another user's look-alike must not pass for one (it would hide the real one's death)."""

import os


def pids_with_argument(argument: bytes, proc: str = "/proc") -> list[int]:
    """PIDs with `argument` as one whole argument of their command line, lowest first."""
    found = []
    for name in os.listdir(proc):
        if name.isdigit() and has_argument(int(name), argument, proc):
            found.append(int(name))
    return sorted(found)


def has_argument(pid: int, argument: bytes, proc: str = "/proc") -> bool:
    """Whether process `pid`, run by root or by us, runs with `argument` (False once it is gone
    or a zombie)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as handle:
            if argument not in handle.read().split(b"\0"):
                return False
        return _run_by_us(pid, proc)
    except OSError:  # gone meanwhile, or not ours to read
        return False


def _run_by_us(pid: int, proc: str) -> bool:
    """Whether every uid of the process (real, effective, saved, filesystem) is root's or ours.

    From /proc/PID/status, not the owner of /proc/PID: a process that makes itself
    non-dumpable has /proc/PID owned by root whoever runs it."""
    with open(f"{proc}/{pid}/status", "rb") as handle:
        for line in handle:
            if line.startswith(b"Uid:"):
                return {int(uid) for uid in line.split()[1:]} <= {0, os.geteuid()}
    return False
