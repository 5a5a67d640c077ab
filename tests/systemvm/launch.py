"""The guest's launcher: joins the guest's cgroups, mounts its root overlay, becomes systemd-nspawn.

Run by guest.py as `unshare --mount --propagation private -- python3 launch.py SPEC.json`, so
the overlay mount exists only in this process's private mount namespace: no mount of the guest
ever appears in the host's table, and the mount disappears with the last process of the guest,
even when nobody is left to unmount it (a test run killed with SIGKILL).

Why a separate script rather than code in the test process: the cgroup moves and the mount
must happen in the process that then execs nspawn (pitfall 3 of system-vm-testbed.md: nspawn
builds its payload/ and supervisor/ cgroups under the cgroup it starts in), and exec keeps the
PID, so the test process's Popen handle and the parent-death signal it set stay valid for nspawn.

Standard library only: it runs under /usr/bin/python3 without the project on the path.
"""

import json
import os
import subprocess
import sys


def main(spec_path: str) -> None:
    with open(spec_path) as spec_file:
        spec = json.load(spec_file)
    for folder in spec["cgroups"]:
        with open(os.path.join(folder, "cgroup.procs"), "w") as procs:
            procs.write(str(os.getpid()))
    lower, upper, work, merged = (spec["overlay"][k] for k in ("lower", "upper", "work", "merged"))
    mounted = subprocess.run(
        ["mount", "-t", "overlay", "overlay", "-o",
         f"lowerdir={lower},upperdir={upper},workdir={work}", merged],
        capture_output=True, text=True, check=False)
    if mounted.returncode != 0:
        sys.exit(f"launch: mount overlay on {merged}: {mounted.stderr.strip()}")
    os.execve(spec["argv"][0], spec["argv"], spec["env"])


if __name__ == "__main__":
    main(sys.argv[1])
