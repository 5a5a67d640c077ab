"""Running as a classic daemon (SysV init): detach with python-daemon, hold a locked pidfile.

The pidfile is locked (flock) for the daemon's whole life, so "already running" is decided by
the lock, not by a PID that may have been reused; a pidfile left by a crash is simply re-locked.
"""

import logging
import os
from pathlib import Path

from vrmonitor.errors import VrMonitorError
from vrmonitor.system.locks import open_lock, try_acquire

LOG = logging.getLogger(__name__)


class AlreadyRunning(VrMonitorError):
    """Another vrmonitor holds the pidfile."""


class LockedPidfile:
    """A context manager python-daemon enters after detaching (its `pidfile` argument)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = _lock_or_refuse(self.path)
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        os.fsync(fd)
        self._fd = fd

    def release(self) -> None:
        if self._fd is not None:
            try:
                self.path.unlink()
            except FileNotFoundError:
                pass
            os.close(self._fd)
            self._fd = None

    def __enter__(self):
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def check_not_running(pidfile: Path) -> None:
    """Refuse early, in the foreground, so the caller sees the error (after detaching it is lost)."""
    os.close(_lock_or_refuse(pidfile))


def _lock_or_refuse(pidfile: Path) -> int:
    """The pidfile's descriptor, locked; AlreadyRunning naming the holder when another holds it.
    Only root can open it (system.locks), so only root can hold it."""
    fd = open_lock(pidfile)
    if try_acquire(fd):
        return fd
    holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
    os.close(fd)
    raise AlreadyRunning(f"already running as PID {holder} (pidfile {pidfile} is locked)")


def daemon_context(pidfile: Path):
    """python-daemon's context: detached, cwd /, umask 022, our locked pidfile.

    Signal handling is the daemon loop's own (set after entering), so python-daemon's map is
    emptied."""
    import daemon  # python-daemon: imported only when detaching

    return daemon.DaemonContext(working_directory="/", umask=0o022, detach_process=True,
                                pidfile=LockedPidfile(pidfile), signal_map={})
