"""Processes found by an argument of their command line (for a service that writes no pidfile)."""

import os


def pids_with_argument(argument: bytes, proc: str = "/proc") -> list[int]:
    """PIDs with `argument` as one whole argument of their command line, lowest first."""
    found = []
    for name in os.listdir(proc):
        if name.isdigit() and has_argument(int(name), argument, proc):
            found.append(int(name))
    return sorted(found)


def has_argument(pid: int, argument: bytes, proc: str = "/proc") -> bool:
    """Whether process `pid` runs with `argument` (False once it is gone or a zombie)."""
    try:
        with open(f"{proc}/{pid}/cmdline", "rb") as handle:
            return argument in handle.read().split(b"\0")
    except OSError:  # gone meanwhile, or not ours to read
        return False
