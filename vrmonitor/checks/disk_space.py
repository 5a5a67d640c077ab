"""disk_space_check.py (basic): free space of / against systemThresholds.minDiskNeeded
(contract 3.5).

As the reference: free = f_bavail * f_frsize / 1024 KiB (the space an unprivileged user may
still use), need = minDiskNeeded (MB) * 1024 KiB, fail when free < need; the message gives
free / 1024 as a Python float (`Sufficient free space is 1834.2265625 MB`). `/` is the root
folder (the VM's / on a router; a test's temporary root otherwise). A failure also says how
much was expected, which the contract's message does not.
"""

import os

from vrmonitor.checks.context import against_threshold
from vrmonitor.errors import CheckError

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
    def free(paths) -> float:
        try:
            return measure(paths.root)
        except OSError as exc:
            raise CheckError(f"Failed to read the free space of /: {exc.strerror or exc}") from exc

    return against_threshold(argv, root, KIND, "minDiskNeeded", free, check)
