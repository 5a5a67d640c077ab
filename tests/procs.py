"""Looking at processes from tests: states, zombies, death (shared by the test modules)."""

import os
import time


def process_state(pid: int) -> str | None:
    """The kernel's one-letter state of `pid` (Z for zombie), or None when it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None


def wait_until_dead(pid: int, within: float = 5.0) -> str | None:
    """Dead means gone or a zombie waiting for whoever reaps it (not us: it is not our child)."""
    end = time.monotonic() + within
    state = process_state(pid)
    while state not in (None, "Z") and time.monotonic() < end:
        time.sleep(0.02)
        state = process_state(pid)
    return state


def our_zombie_children() -> list[int]:
    zombies = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if fields[0] == "Z" and int(fields[1]) == os.getpid():
            zombies.append(int(entry))
    return zombies


def host_pids_named(name: str) -> list[int]:
    """Processes of that name in this PID namespace: a container's (the systemd test guest's
    sshd, say) are visible from here but are not the machine's own."""
    from vrmonitor.system.identity import pids_named

    mine = os.readlink("/proc/self/ns/pid")
    pids = []
    for pid in pids_named(name):
        try:
            if os.readlink(f"/proc/{pid}/ns/pid") == mine:
                pids.append(pid)
        except OSError:
            pass  # gone meanwhile
    return pids
