"""The CPU split systemd gives a router, rebuilt with cgroup v1 for a benchmark.

Under systemd the daemon runs in system.slice/vrmonitor.service with the unit's CPUQuota=, and
the management server's ssh commands run in user.slice: the two slices share the CPU by equal
weight, however many processes one of them starts. Without systemd (this machine) everything
shares one cgroup, so 200 concurrent commands get 200 shares against the daemon's one, a
situation a systemd router never has. The load benchmark measures the production arrangement:
two sibling cgroups of equal cpu.shares, the daemon's with the unit's quota.
"""

import os
import re
from pathlib import Path

CPU = Path("/sys/fs/cgroup/cpu")
UNIT = Path(__file__).resolve().parents[2] / "systemd/vrmonitor.service"
PERIOD_US = 100_000


def unit_cpu_quota() -> float | None:
    """The unit's CPUQuota= as a fraction of one CPU (None when it sets none)."""
    found = re.search(r"^CPUQuota=(\d+)%", UNIT.read_text(), re.M)
    return int(found.group(1)) / 100 if found else None


class Slices:
    """system.slice and user.slice under a folder of this benchmark's own; `close()` puts every
    process back in the root cgroup and removes the folders."""

    def __init__(self):
        if not (CPU / "cgroup.procs").exists():
            raise RuntimeError(f"no cgroup v1 cpu controller at {CPU}: cannot rebuild systemd's slices")
        self.base = CPU / f"vrmonitor-bench-{os.getpid()}"
        self.system = self.base / "system.slice"
        self.user = self.base / "user.slice"
        for folder in (self.base, self.system, self.user):
            folder.mkdir()
        quota = unit_cpu_quota()
        if quota is not None:
            (self.system / "cpu.cfs_period_us").write_text(str(PERIOD_US))
            (self.system / "cpu.cfs_quota_us").write_text(str(int(quota * PERIOD_US)))

    @staticmethod
    def place(pid: int, group: Path) -> None:
        """Move `pid` (all its threads; its future children follow it) into `group`."""
        (group / "cgroup.procs").write_text(str(pid))

    def close(self) -> None:
        for group in (self.system, self.user, self.base):
            if not group.exists():
                continue
            for _ in range(10):  # a process may fork while its siblings are moved
                pids = (group / "cgroup.procs").read_text().split()
                if not pids:
                    break
                for pid in pids:
                    try:
                        self.place(int(pid), CPU)
                    except ProcessLookupError:
                        pass
            group.rmdir()
