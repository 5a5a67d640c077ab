"""Opening paths that other users may control, as root, without being redirected or blocked.

Other users own some of the folders vrmonitor reads or writes: a service's pidfile folder
(/run/dnsmasq belongs to dnsmasq), /var/lib/prometheus (prometheus). Anyone who can write to a
folder can put a symlink or a FIFO in it. So:
- a path is walked one folder at a time, each opened with O_NOFOLLOW relative to the last;
- a symlink is followed only where no other user could have put it: in a folder owned by root
  and writable by no one else (/var/run -> /run), or a root-owned link in a sticky folder
  (run as another user: that user counts as root does);
- the last component is never followed, and a file is opened non-blocking and must be regular.
"""

import errno
import os
import stat
from collections import deque

MAX_LINKS = 32  # as the kernel's limit on symlinks in one lookup (40), roughly
FOLDER_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
READ_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class UnsafePath(OSError):
    """A path that another user could have redirected; str() says where and why."""


def controlled_by_us(info: os.stat_result) -> bool:
    """No user but root (and this process's own user) can add, remove or rename entries in
    this folder. Run as root, that is root alone."""
    return info.st_uid in (0, os.geteuid()) and not info.st_mode & 0o002 and not (
        info.st_mode & 0o020 and info.st_gid != 0)


def open_folder(path: str | os.PathLike, create: bool = False, mode: int = 0o755) -> int:
    """A descriptor of folder `path` (O_DIRECTORY), reached without following a symlink that
    another user could have placed. `create`: make missing folders with `mode`.

    Raises UnsafePath for such a symlink, OSError (naming `path`) for anything else."""
    path = os.fspath(path)
    parts = deque(os.path.abspath(path).split("/"))
    fd = os.open("/", FOLDER_FLAGS)
    links = 0
    try:
        while parts:
            name = parts.popleft()
            if name in ("", "."):
                continue
            info = _lstat_at(name, fd, path, create, mode)
            if stat.S_ISLNK(info.st_mode):
                links += 1
                if links > MAX_LINKS or not _link_trusted(fd, info):
                    raise UnsafePath(errno.ELOOP, "a symlink on the way that another user could "
                                                  f"have placed ({name!r})", path)
                target = os.readlink(name, dir_fd=fd)
                parts.extendleft(reversed(target.split("/")))
                if target.startswith("/"):
                    fd = _replace(fd, os.open("/", FOLDER_FLAGS))
                continue
            fd = _replace(fd, os.open(name, FOLDER_FLAGS, dir_fd=fd))
        return fd
    except UnsafePath:
        os.close(fd)
        raise
    except OSError as exc:
        os.close(fd)
        raise OSError(exc.errno, exc.strerror, path) from None


def open_in(path: str | os.PathLike, flags: int, mode: int = 0o644, create: bool = False) -> int:
    """os.open of `path`'s last component (never followed: O_NOFOLLOW is added) inside its
    folder reached by open_folder; `create` makes missing folders. OSError names `path`; a
    symlink in the last component is UnsafePath."""
    path = os.fspath(path)
    folder = open_folder(os.path.dirname(os.path.abspath(path)), create=create)
    try:
        return os.open(os.path.basename(path), flags | os.O_NOFOLLOW, mode, dir_fd=folder)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise UnsafePath(errno.ELOOP, "a symlink, not followed", path) from None
        raise OSError(exc.errno, exc.strerror, path) from None
    finally:
        os.close(folder)


def read_regular(path: str | os.PathLike, limit: int) -> tuple[bytes, os.stat_result]:
    """The first `limit` bytes of regular file `path`, and its status.

    Never blocks (a FIFO is refused, not opened for a writer to appear), never follows a
    symlink that another user could have placed. Raises OSError naming `path`."""
    path = os.fspath(path)
    fd = open_in(path, READ_FLAGS)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", path)
        chunks, left = [], limit
        while left > 0:
            chunk = os.read(fd, min(left, 65536))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks), info
    finally:
        os.close(fd)


def readable_by_others(info: os.stat_result) -> bool:
    """Anyone may read this file: quoting it in a world-readable place leaks nothing."""
    return bool(info.st_mode & 0o004)


def _lstat_at(name: str, fd: int, path: str, create: bool, mode: int) -> os.stat_result:
    try:
        return os.stat(name, dir_fd=fd, follow_symlinks=False)
    except FileNotFoundError:
        if not create:
            raise
    try:
        os.mkdir(name, mode, dir_fd=fd)
    except FileExistsError:
        pass  # made meanwhile by another writer
    return os.stat(name, dir_fd=fd, follow_symlinks=False)


def _link_trusted(folder_fd: int, link: os.stat_result) -> bool:
    folder = os.fstat(folder_fd)
    if controlled_by_us(folder):
        return True
    # A sticky folder (/tmp): only a link's owner may remove or replace it.
    return bool(folder.st_mode & stat.S_ISVTX) and link.st_uid in (0, os.geteuid())


def _replace(old: int, new: int) -> int:
    os.close(old)
    return new
