"""Locks that only root can take, and waits on them with a bound.

flock() needs no write access: any user who can open a lock file can hold it, shared or
exclusive, for as long as they like. So a lock file lives in a folder only root may enter
(`private_folder`: 0700), is created 0600 and put back to 0600 when found otherwise (as an
older version left it), and is never reached through a symlink. And no one waits on a lock
without a bound: the daemon's loop must go on monitoring and pinging the watchdog even when
a lock stays held by a process gone astray.
"""

import errno
import fcntl
import os
import select
import stat
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vrmonitor.system.safepath import open_folder, open_in

POLL = 0.01
OPEN_FLAGS = os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC


class LockTimeout(OSError):
    """The lock stayed held by another process past the wait allowed; str() names the file."""


def private_folder(path: str | os.PathLike) -> None:
    """Make `path` (and missing parents) a folder that only its owner may enter: 0700."""
    fd = open_folder(path, create=True, mode=0o700)
    try:
        info = os.fstat(fd)
        if info.st_uid == os.geteuid() and info.st_mode & 0o077:
            os.fchmod(fd, 0o700)
    finally:
        os.close(fd)


def open_lock(path: str | os.PathLike) -> int:
    """A descriptor of lock file `path`, in a private folder, mode 0600, owned by this user."""
    path = Path(path)
    private_folder(path.parent)
    fd = open_in(path, OPEN_FLAGS, 0o600)
    info = os.fstat(fd)
    if not stat.S_ISREG(info.st_mode) or info.st_uid != os.geteuid():
        os.close(fd)
        raise OSError(errno.EPERM, "not a regular file of this user's", str(path))
    if info.st_mode & 0o077:
        os.fchmod(fd, 0o600)
    return fd


def try_acquire(fd: int, exclusive: bool = True) -> bool:
    """flock `fd` if no one else holds it; never waits."""
    try:
        fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def acquire(fd: int, exclusive: bool, wait: float, path: str | os.PathLike) -> None:
    """flock `fd`, trying for at most `wait` seconds; LockTimeout after that."""
    deadline = time.monotonic() + wait
    while not try_acquire(fd, exclusive):
        if time.monotonic() >= deadline:
            raise LockTimeout(errno.ETIMEDOUT, f"still locked by another process after "
                                               f"{wait:g} s", str(path))
        # Not time.sleep(): that is clock_nanosleep(TIMER_ABSTIME), which libfaketime (how the
        # clock-step tests give a router a stepped clock) fails with EINVAL.
        select.select([], [], [], POLL)


@contextmanager
def held(path: str | os.PathLike, exclusive: bool, wait: float) -> Iterator[int]:
    """Lock file `path` held for the `with` block (open_lock, then acquire)."""
    fd = open_lock(path)
    try:
        acquire(fd, exclusive, wait, path)
        yield fd
    finally:
        os.close(fd)  # releases the lock
