"""The one way vrmonitor produces a file: whole or not at all.

The data goes to a temporary file in the target's folder, is fsynced, renamed over the target
with os.replace (atomic on POSIX), and the folder is fsynced so the rename survives a crash.
A reader therefore sees the old file or the new one, never a part. A writer killed mid-way
leaves at most a `.<name>.tmp-<pid>-*` file, which the next write of the same target removes.
"""

import os
import secrets
from pathlib import Path

from vrmonitor.system.safepath import open_folder

TEMP_MARK = ".tmp-"
CREATE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC


def atomic_write(path: str | os.PathLike, data: bytes | str, mode: int = 0o644) -> None:
    """Replace `path` with `data` atomically and durably; create missing folders.

    All of it happens through a descriptor of the target's folder, reached without following a
    symlink another user could have placed (safepath): root never writes through a path that
    a less privileged user redirected, even in a folder that user owns."""
    target = Path(path)
    if isinstance(data, str):
        data = data.encode("utf-8")
    folder = open_folder(target.parent, create=True)
    try:
        _remove_stale_temps(folder, target.name)
        temp = f".{target.name}{TEMP_MARK}{os.getpid()}-{secrets.token_hex(4)}"
        try:
            fd = os.open(temp, CREATE_FLAGS, 0o600, dir_fd=folder)
        except OSError as exc:
            raise _naming(target, exc) from exc
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fchmod(handle.fileno(), mode)
                os.fsync(handle.fileno())
            os.replace(temp, target.name, src_dir_fd=folder, dst_dir_fd=folder)
        except OSError as exc:
            _unlink_quietly(temp, folder)
            raise _naming(target, exc) from exc
        except BaseException:
            _unlink_quietly(temp, folder)
            raise
        os.fsync(folder)
    finally:
        os.close(folder)


def _naming(target: Path, exc: OSError) -> OSError:
    """The error with `target` as its file: a failed write names no file, and a failed create
    names the temporary, so a full or read-only disk would be reported without saying what
    could not be written."""
    return OSError(exc.errno, exc.strerror, str(target)) if exc.errno else exc


def fsync_dir(folder: str | os.PathLike) -> None:
    fd = open_folder(folder)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _remove_stale_temps(folder: int, name: str) -> None:
    """Delete temporaries of `name` left by writers that no longer run.

    The folder may be another user's (the node exporter's): any name may stand there, and
    none of them may stop the write."""
    prefix = f".{name}{TEMP_MARK}"
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for entry in names:
        if not entry.startswith(prefix):
            continue
        pid_text = entry[len(prefix):].split("-", 1)[0]
        # ASCII digits only: str.isdigit() also takes `²`, which int() refuses (ValueError).
        if pid_text.isascii() and pid_text.isdigit() and not _pid_alive(int(pid_text)):
            try:
                _unlink_quietly(entry, folder)
            except OSError:  # a folder of that name, made by the folder's owner: left, not fatal
                pass


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # OverflowError: no PID is that large
        return False
    except PermissionError:
        return True
    return True


def _unlink_quietly(name: str, folder: int) -> None:
    try:
        os.unlink(name, dir_fd=folder)
    except FileNotFoundError:
        pass
