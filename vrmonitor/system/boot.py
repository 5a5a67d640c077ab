"""This boot: which one it is, and how long ago it began, seen from a container too.

The kernel's boot id and its monotonic clock belong to the kernel. Inside a container that
boots a system of its own (systemd-nspawn, LXC), a reboot starts a new PID 1 on the same
kernel: the boot id (as a sandboxed service reads it) and the monotonic clock go on as if
nothing happened, and state carried "from this boot" would hold the previous boot's PIDs, which
the new boot hands out again. PID 1's start, in clock ticks since the kernel booted
(/proc/1/stat), changes with every such reboot. On a VM PID 1 starts with the kernel, so both
readings agree with the kernel's.
"""

import os

BOOT_ID_FILE = "/proc/sys/kernel/random/boot_id"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def read_boot_id() -> str:
    try:
        with open(BOOT_ID_FILE) as handle:
            return handle.read().strip()
    except OSError:
        return ""


def init_start_ticks(proc: str = "/proc") -> int:
    """PID 1's start in clock ticks after the kernel booted (0 when it cannot be read)."""
    try:
        with open(f"{proc}/1/stat", "rb") as handle:
            fields = handle.read().rpartition(b")")[2].split()
        return int(fields[19])
    except (OSError, IndexError, ValueError):
        return 0


def boot_key(proc: str = "/proc") -> str:
    """Names this boot: the kernel's boot id and PID 1's start."""
    return f"{read_boot_id()}/{init_start_ticks(proc)}"


def since_boot(now_monotonic: float, proc: str = "/proc") -> float:
    """Seconds since this boot began (PID 1's start), on the monotonic clock."""
    return max(0.0, now_monotonic - init_start_ticks(proc) / CLOCK_TICKS)
