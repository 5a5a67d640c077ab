"""disk_space_check.py (basic): free space of / against systemThresholds.minDiskNeeded
(contract 3.5).

As the reference: free = f_bavail * f_frsize / 1024 KiB (the space an unprivileged user may
still use), need = minDiskNeeded (MB) * 1024 KiB, fail when free < need; the message gives
free / 1024 as a Python float (`Sufficient free space is 1834.2265625 MB`). `/` is the root
folder (the VM's / on a router; a test's temporary root otherwise). A failure also says how
much was expected, which the contract's message does not.
"""

import os

from vrmonitor.checks.context import CheckInputs, answer, applies, system_threshold, unreadable
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

KIND = "basic"


def free_kib(folder) -> float:
    """KiB available to unprivileged users on the file system holding `folder`."""
    status = os.statvfs(folder)
    return status.f_bavail * status.f_frsize / 1024


def check(minimum_mb: float, free: float) -> tuple[str, bool]:
    if free < minimum_mb * 1024:
        return (f"Insufficient free space is {free / 1024} MB, "
                f"expected at least {minimum_mb} MB"), False
    return f"Sufficient free space is {free / 1024} MB", True


def main(argv: list[str], root: str, measure=free_kib) -> int:
    if not applies(argv, KIND):
        return 0
    paths = Paths.from_option(root)
    try:
        minimum = system_threshold(CheckInputs(paths), "minDiskNeeded")
    except ConfigError as exc:
        return unreadable(exc.problems)
    if minimum is None:
        return answer("Missing minDiskNeeded in health_checks_data systemThresholds, skipping",
                      ok=True)
    try:
        free = measure(paths.root)
    except OSError as exc:
        return answer(f"Failed to read the free space of /: {exc.strerror or exc}", ok=False)
    return answer(*check(minimum, free))
