"""The guest's own cgroup in every host hierarchy (pitfall 3 of system-vm-testbed.md).

Why: nspawn builds `payload/`, `supervisor/` and `init.scope` under the cgroup it starts in; from
the root of the host's trees it would leave them there. Started inside a folder of its own in
each hierarchy, everything it and the guest create stays below that folder, which teardown
removes depth first. The folder also lists exactly the processes this test bed started, so a
guest that hangs can be ended PID by PID without guessing by name.

Hierarchies are read from the mount table, so this works on the build machine's hybrid layout
(v1 controllers, `name=systemd` and an empty cgroup2 at /sys/fs/cgroup/unified) and on a pure
cgroup2 host alike. Each folder is made below the cgroup the test process is in.
"""

import os
import signal
import time
from pathlib import Path


def hierarchies() -> list[tuple[Path, str]]:
    """(mount point, this process's cgroup path in it) for every mounted hierarchy."""
    own: dict[str, str] = {}
    for line in Path("/proc/self/cgroup").read_text().splitlines():
        _, controllers, path = line.split(":", 2)
        own[controllers] = path
    found, seen = [], set()
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        before, after = line.split(" - ", 1)
        fields, tail = before.split(), after.split()
        fstype, options = tail[0], tail[2].split(",")
        if fstype == "cgroup2":
            key = ""
        elif fstype == "cgroup":
            names = [o for o in options if o not in ("rw", "ro") and not o.startswith(
                ("relatime", "noatime", "nosuid", "nodev", "noexec", "clone_children", "xattr",
                 "release_agent", "noprefix", "cpuset_v2_mode"))]
            key = ",".join(sorted(names))
        else:
            continue
        # /proc/self/cgroup lists co-mounted controllers in kernel order; compare as sets.
        match = next((c for c in own if ",".join(sorted(c.split(","))) == key), None)
        if match is None or key in seen:
            continue
        seen.add(key)
        mount_root = fields[3]
        path = own[match]
        if mount_root != "/" and path.startswith(mount_root):
            path = path[len(mount_root):] or "/"
        found.append((Path(fields[4]), path))
    return found


def create(name: str) -> list[Path]:
    """A folder `name` below this process's cgroup in every hierarchy (cpuset primed)."""
    made = []
    try:
        for mount, path in hierarchies():
            parent = mount / path.lstrip("/")
            folder = parent / name
            folder.mkdir()
            made.append(folder)
            # A v1 cpuset starts empty and takes no process until cpus and mems are set.
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if (folder / knob).exists() and not (folder / knob).read_text().strip():
                    (folder / knob).write_text((parent / knob).read_text())
    except OSError:
        remove(made)
        raise
    return made


def pids(folders: list[Path]) -> set[int]:
    """Every process in these folders and below them."""
    found = set()
    for folder in folders:
        for sub, _, _ in os.walk(folder):
            try:
                found.update(int(p) for p in Path(sub, "cgroup.procs").read_text().split())
            except (OSError, ValueError):
                continue
    return found


def kill_all(folders: list[Path], within: float = 5.0) -> list[int]:
    """SIGKILL every process still in the folders (the guest's, by PID); those it had to kill."""
    killed = []
    end = time.monotonic() + within
    while True:
        left = pids(folders)
        if not left or time.monotonic() > end:
            return killed
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
                if pid not in killed:
                    killed.append(pid)
            except ProcessLookupError:
                continue
        time.sleep(0.05)


def remove(folders: list[Path]) -> list[str]:
    """rmdir the folders and everything below them, deepest first; what could not go."""
    problems = []
    for folder in folders:
        if not folder.exists():
            continue
        for sub, _, _ in sorted(os.walk(folder, topdown=False), key=lambda w: -w[0].count("/")):
            for attempt in range(50):
                try:
                    os.rmdir(sub)
                    break
                except FileNotFoundError:
                    break
                except OSError as error:
                    # EBUSY while the kernel finishes reaping the last process of the group.
                    if attempt == 49:
                        problems.append(f"rmdir {sub}: {error}")
                    time.sleep(0.02)
    return problems
