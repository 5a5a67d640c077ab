"""Start-up grace: whether a CloudStack system VM is still configuring itself after boot.

Until its boot configuration writes /var/cache/cloud/boot_up_done, services are still being
set up and started, so a down service never yet seen up is neither alerted nor restarted. The
marker is on disk and survives reboots: only a marker written during this boot counts, which
takes this boot's start on the wall clock, and a clock step moves that. So two reckonings:
- the start as reckoned when a daemon first ran on this boot (carried in its state): right for
  a marker written before a later step;
- the start as reckoned now: right for a marker written after a step.
A marker not older than either was written during this boot. Whatever the marker says, the
grace ends `grace` seconds after boot on the monotonic clock. "Boot" is PID 1's start
(system/boot.py), so a container's reboot is one too.
"""

import os
from pathlib import Path

MARKER = "boot_up_done"


def boot_start_now(now_wall: float, since_boot: float) -> float:
    """This boot's start on the wall clock as it reads now (since_boot: system.boot.since_boot)."""
    return now_wall - since_boot


def still_booting(config_cache: Path, grace: float, first_boot_start: float,
                  now_wall: float, since_boot: float) -> bool:
    """Whether the router is within its start-up grace. config_cache: /var/cache/cloud (a
    machine without it is no system VM and has no grace); first_boot_start: this boot's start
    as reckoned by the first daemon of the boot; since_boot: seconds since the boot began, on
    the monotonic clock (system.boot.since_boot)."""
    if since_boot >= grace or not config_cache.is_dir():
        return False
    try:
        written = os.stat(config_cache / MARKER).st_mtime
    except FileNotFoundError:
        return True
    return written < min(first_boot_start, boot_start_now(now_wall, since_boot))
