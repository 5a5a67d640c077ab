"""secstorage_mount_check.py (basic, secondary storage VM): every image store mount takes a
write within a deadline (contract 10.7).

The mounts are those directly under /mnt/SecStorage of type nfs, nfs4 or cifs in
/proc/self/mountinfo. Each is probed in a child process of its own, all at once: statvfs (the
read-only flag), then a file `.vrmonitor-write-<instance>-<pid>` created with O_EXCL, 4096 bytes
written, fsync'd and removed. I/O on a dead NFS server blocks for as long as the server stays
away (soft mounts with retrans=2147483647), so the parent waits at most `ioTimeout` seconds,
kills what has not answered and reports it: the run ends within the deadline whatever the
storage does. Without any mount, each `secondaryStorageServerAddress` is tried on TCP 2049.
"""

import hashlib
import os
import select
import signal
import time
import uuid
from dataclasses import dataclass

from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.checks.systemvm import on_roles, reach_lines
from vrmonitor.cloudstack.cmdline import BootArgs
from vrmonitor.paths import Paths

NAME = "secstorage_mount_check.py"
KIND = "basic"
FSTYPES = ("nfs", "nfs4", "cifs")
MOUNTINFO = "/proc/self/mountinfo"
NFS_PORT = 2049
WRITE_SIZE = 4096
REAP_WAIT = 0.2  # seconds a killed probe may take to go (a task in NFS I/O may take longer)


@dataclass(frozen=True)
class Mount:
    source: str  # `10.0.0.5:/export/secondary`, `//10.0.0.6/share`
    point: str  # as on the VM
    fstype: str

    @property
    def server(self) -> str:
        if self.source.startswith("//"):
            return self.source[2:].split("/", 1)[0]
        return self.source.rsplit(":", 1)[0].strip("[]") if ":" in self.source else self.source


def mount_dir(source: str) -> str:
    """The folder name CloudStack's agent mounts `<server IP>:<export path>` at: the name-based
    (MD5, version 3) UUID of the text, as Java's UUID.nameUUIDFromBytes makes it (A24)."""
    return str(uuid.UUID(bytes=hashlib.md5(source.encode()).digest(), version=3))


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as \\ooo."""
    out, index = [], 0
    while index < len(field):
        if field[index] == "\\" and field[index + 1:index + 4].isdigit():
            out.append(chr(int(field[index + 1:index + 4], 8)))
            index += 4
        else:
            out.append(field[index])
            index += 1
    return "".join(out)


def storage_mounts(folder: str, mountinfo: str = MOUNTINFO,
                   fstypes: tuple[str, ...] = FSTYPES) -> list[Mount]:
    """The mounts of those types whose mount point is directly in `folder`, in table order."""
    found = []
    with open(mountinfo, encoding="utf-8", errors="surrogateescape") as table:
        for line in table:
            fields = line.split()
            if "-" not in fields[6:]:
                continue
            dash = fields.index("-", 6)
            point, fstype, source = _unescape(fields[4]), fields[dash + 1], _unescape(fields[dash + 2])
            if fstype in fstypes and os.path.dirname(point.rstrip("/")) == folder.rstrip("/"):
                found.append(Mount(source, point, fstype))
    return found


def _probe(point: str, name: str) -> str:
    """In the child: '' when writable, else the failure's text (`ro` for read-only)."""
    try:
        if os.statvfs(point).f_flag & os.ST_RDONLY:
            return "ro"
        path = os.path.join(point, f".vrmonitor-write-{name}-{os.getpid()}")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        try:
            written = os.write(fd, b"\0" * WRITE_SIZE)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(path)
        return "" if written == WRITE_SIZE else f"short write ({written} of {WRITE_SIZE} bytes)"
    except OSError as exc:
        if exc.errno == 30:  # EROFS: mounted read-write, refused as read-only
            return "ro"
        return exc.strerror or str(exc)


def probe_all(points: list[str], name: str, deadline: float) -> list[str | None]:
    """Per mount point '' (writable), 'ro', a reason, or None: no answer within `deadline` s."""
    children: dict[int, tuple[int, int]] = {}  # read end -> (index, pid)
    answers: list[str | None] = [None] * len(points)
    for index, point in enumerate(points):
        read_end, write_end = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: one probe, its answer on the pipe, nothing else
            os.close(read_end)
            try:
                os.write(write_end, _probe(point, name).encode("utf-8", "replace") or b"ok")
            finally:
                os._exit(0)
        os.close(write_end)
        children[read_end] = (index, pid)
    end = time.monotonic() + deadline
    pending = set(children)
    while pending and (left := end - time.monotonic()) > 0:
        ready, _, _ = select.select(list(pending), [], [], left)
        for fd in ready:
            text = os.read(fd, 4096).decode("utf-8", "replace")
            answers[children[fd][0]] = "" if text == "ok" else (text or "the probe ended without an answer")
            pending.discard(fd)
    for fd, (index, pid) in children.items():
        os.close(fd)
        if fd in pending:
            os.kill(pid, signal.SIGKILL)
        _reap(pid)
    return answers


def _reap(pid: int) -> None:
    """Reap a probe; one stuck in I/O is left to exit when the kernel lets it (it is ours, and
    the runner kills the check's process group when the check ends)."""
    end = time.monotonic() + REAP_WAIT
    while time.monotonic() < end:
        if os.waitpid(pid, os.WNOHANG)[0]:
            return
        time.sleep(0.005)


def judge(paths: Paths, boot: BootArgs, io_timeout: float, mountinfo: str = MOUNTINFO,
          fstypes: tuple[str, ...] = FSTYPES, reach=reach_lines) -> tuple[str, bool]:
    folder = str(paths.secstorage_dir)
    mounts = storage_mounts(folder, mountinfo, fstypes)
    addresses = boot.addresses("secondaryStorageServerAddress")
    if not mounts:
        lines = ["No secondary storage is mounted under /mnt/SecStorage"]
        lines += reach(addresses, NFS_PORT, lambda host: f"Storage address {host}: port {NFS_PORT}")
        return "\n".join(lines), False
    lines = []
    answers = probe_all([mount.point for mount in mounts], boot.name or "systemvm", io_timeout)
    for mount, outcome in zip(mounts, answers):
        shown = "/mnt/SecStorage/" + os.path.basename(mount.point.rstrip("/"))
        if outcome is None:
            lines.append(f"Secondary storage {mount.source} at {shown} did not answer within {io_timeout:g} s")
        elif outcome == "ro":
            lines.append(f"Secondary storage {mount.source} at {shown} is read-only")
        elif outcome:
            lines.append(f"Secondary storage {mount.source} at {shown} is not writable: {outcome}")
    servers = {mount.server for mount in mounts}
    lines += [f"Image store address {address} has no mount under /mnt/SecStorage"
              for address in addresses if address not in servers]
    if lines:
        return "\n".join(lines), False
    return f"All {len(mounts)} secondary storage mounts are mounted and writable", True


def main(argv: list[str], root: str, mountinfo: str = MOUNTINFO,
         fstypes: tuple[str, ...] = FSTYPES) -> int:
    return on_roles(argv, root, KIND, CHECK_ROLES[NAME],
                    lambda paths, boot, limits: judge(paths, boot, limits.io_timeout, mountinfo, fstypes),
                    wait_for_boot=True)
