"""The one way vrmonitor produces a file: whole or not at all.

The data goes to a temporary file in the target's folder, is fsynced, renamed over the target
with os.replace (atomic on POSIX), and the folder is fsynced so the rename survives a crash.
A reader therefore sees the old file or the new one, never a part. A writer killed mid-way
leaves at most a `.<name>.tmp-<pid>-*` file, which the next write of the same target removes.
"""

import os
import tempfile
from pathlib import Path

TEMP_MARK = ".tmp-"


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably; create missing folders."""
    target = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    target.parent.mkdir(parents=True, exist_ok=True)
    _remove_stale_temps(target)
    try:
        fd, temp = tempfile.mkstemp(prefix=f".{target.name}{TEMP_MARK}{os.getpid()}-",
                                    dir=target.parent)
    except OSError as exc:
        raise _naming(target, exc) from exc
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fchmod(handle.fileno(), mode)
            os.fsync(handle.fileno())
        os.replace(temp, target)
    except OSError as exc:
        _unlink_quietly(temp)
        raise _naming(target, exc) from exc
    except BaseException:
        _unlink_quietly(temp)
        raise
    fsync_dir(target.parent)


def _naming(target: Path, exc: OSError) -> OSError:
    """The error with `target` as its file: a failed write names no file, and a failed create
    names the temporary, so a full or read-only disk would be reported without saying what
    could not be written."""
    return OSError(exc.errno, exc.strerror, str(target)) if exc.errno else exc


def fsync_dir(folder: str | os.PathLike) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(target: Path) -> None:
    """Delete temporaries of `target` left by writers that no longer run."""
    prefix = f".{target.name}{TEMP_MARK}"
    try:
        names = os.listdir(target.parent)
    except OSError:
        return
    for name in names:
        if not name.startswith(prefix):
            continue
        pid_text = name[len(prefix):].split("-", 1)[0]
        if pid_text.isdigit() and not _pid_alive(int(pid_text)):
            _unlink_quietly(target.parent / name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _unlink_quietly(path: str | os.PathLike) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
