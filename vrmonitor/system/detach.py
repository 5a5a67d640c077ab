"""Running as a classic daemon (SysV init): detach with python-daemon, hold a locked pidfile.

The pidfile is locked (flock) for the daemon's whole life, so "already running" is decided by
the lock, not by a PID that may have been reused; a pidfile left by a crash is simply re-locked.
"""

import fcntl
import logging
import os
from pathlib import Path

from vrmonitor.errors import VrMonitorError
from vrmonitor.system.locks import open_lock

LOG = logging.getLogger(__name__)


class AlreadyRunning(VrMonitorError):
    """Another vrmonitor holds the pidfile."""


class LockedPidfile:
    """A context manager python-daemon enters after detaching (its `pidfile` argument)."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self._fd = None

    def acquire(self) -> None:
        fd = open_lock(self.path)  # only root can open it, so only root can hold it
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
            os.close(fd)
            raise AlreadyRunning(f"already running as PID {holder} (pidfile {self.path} is locked)") from None
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
    fd = open_lock(pidfile)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
        raise AlreadyRunning(f"already running as PID {holder} (pidfile {pidfile} is locked)") from None
    finally:
        os.close(fd)


def daemon_context(pidfile: Path):
    """python-daemon's context: detached, cwd /, umask 022, our locked pidfile.

    Signal handling is the daemon loop's own (set after entering), so python-daemon's map is
    emptied."""
    import daemon  # python-daemon: imported only when detaching

    return daemon.DaemonContext(working_directory="/", umask=0o022, detach_process=True,
                                pidfile=LockedPidfile(pidfile), signal_map={})
