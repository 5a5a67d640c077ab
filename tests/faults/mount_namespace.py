"""A private mount namespace for fault tests: tiny tmpfs mounts and read-only binds that only the
processes started inside it see, so a fault never touches the machine's own filesystems.

The namespace is held open by a `sleep` started with `unshare --mount --propagation private`;
commands (the daemon, mount, vrmonitor's CLI) join it with `nsenter`. The test process itself
stays outside and reads the namespace's view of a path through /proc/<holder>/root. Closing
kills the holder (and whatever was started inside that still runs): the mounts go with the
namespace.
"""

import os
import subprocess
import time
from pathlib import Path

ENV = {"PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


class MountNamespace:
    def __init__(self):
        self.holder = subprocess.Popen(
            ["unshare", "--mount", "--propagation", "private", "sleep", "86400"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=ENV)
        # unshare execs sleep once the namespace exists: wait until the PID is in another one.
        mine = os.readlink("/proc/self/ns/mnt")
        for _ in range(500):
            if self.holder.poll() is not None:
                raise RuntimeError(f"unshare failed: {self.holder.stderr.read().decode()}")
            try:
                if (os.readlink(f"/proc/{self.holder.pid}/ns/mnt") != mine
                        and Path(f"/proc/{self.holder.pid}/comm").read_text().strip() == "sleep"):
                    break
            except FileNotFoundError:
                pass
            time.sleep(0.01)
        else:
            raise RuntimeError("unshare did not start a mount namespace")

    @property
    def prefix(self) -> tuple[str, ...]:
        """Put before a command to run it inside the namespace."""
        return ("nsenter", f"--target={self.holder.pid}", "--mount", "--")

    def run(self, *argv: str) -> subprocess.CompletedProcess:
        """`argv` inside the namespace; raises if it fails (these are the test's own set-up steps)."""
        done = subprocess.run([*self.prefix, *argv], capture_output=True, text=True, env=ENV,
                              timeout=30, check=False)
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(argv)}: exit {done.returncode}: {done.stderr.strip()}")
        return done

    def view(self, path: str | os.PathLike) -> Path:
        """`path` as the processes inside the namespace see it."""
        return Path(f"/proc/{self.holder.pid}/root") / Path(os.path.abspath(path)).relative_to("/")

    def mount_tmpfs(self, folder: Path, size: str) -> None:
        """A tmpfs of `size` bytes (mount's notation: 64k) over `folder`, root's and mode 0755."""
        self.run("mount", "-t", "tmpfs", "-o", f"size={size},mode=0755", "vrmonitor-fault", str(folder))

    def read_only(self, folder: Path) -> None:
        self.run("mount", "--bind", str(folder), str(folder))
        self.run("mount", "-o", "remount,bind,ro", str(folder))

    def read_write(self, folder: Path) -> None:
        self.run("mount", "-o", "remount,bind,rw", str(folder))

    def close(self) -> None:
        if self.holder.poll() is None:
            self.holder.kill()
        self.holder.wait()
        self.holder.stderr.close()
