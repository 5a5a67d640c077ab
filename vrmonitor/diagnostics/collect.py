"""getDiagnosticsData's file collection: commands and files into one bounded zip (contract 5.2).

Items, each stripped (empty items and repeats, `iproute` after `[iproute]` too, are skipped):
- `iptables`, `ipaddr`, `iprule`, `iproute`: `iptables-save`, `ip address`, `ip rule list`,
  `ip route show table all`; the output (stdout when the command exits 0, else stderr) is
  stored as `<item>.log`.
- `[NAME]` (longer than 3 characters): NAME as is; one of the four keywords runs that command,
  anything else runs `/opt/cloud/bin/<first word>` with the other words as arguments (argv,
  never a shell) when that resolves to an executable regular file inside /opt/cloud/bin under
  the root; otherwise the log says `Unable to generate command for NAME, perhaps missing file`.
  Stored as `NAME.log` (a `/` in NAME becomes `_`).
- anything else: a path on the VM (relative ones from /root, the reference's working folder),
  relocated under the root, stored under its basename when it is a regular file.

Every command runs with [diagnostics] command_timeout; what it printed before being stopped is
kept with a note. Logs and fileinfo.txt never touch the disk: they are written into the zip
from memory, so nothing is left in /root.

Paths are resolved inside the root, as if it were `/`: a symlink's absolute target is a VM path
under the root and `..` stops at the root, so nothing outside the root is ever read (on a VM,
root `/`, this is ordinary resolution, e.g. /etc/resolv.conf -> /run/...). A file is added only
if what the path finally names is a regular file: devices, FIFOs, sockets and folders are
refused without being opened (opening a device can act: /dev/watchdog).

fileinfo.txt lists, one per line, the contract path of each file added (a generated log by its
relative name), `<path>File Not Found!!` for each path that could not be added (missing ones
too: the reference skipped those silently), then `Note: ...` lines for members stored under
another name (duplicate basenames get `-2`, `-3` before the extension), paths that were not
regular files, and what was left out to keep the zip within [diagnostics] zip_max_bytes.

The zip is `<root>/root/diagnostics_files_YYYYmmdd-HHMMSS.zip` (local time), `-N` added before
`.zip` while the name is taken; it is created exclusively (O_EXCL, mode 0600), so concurrent
calls in one second get distinct files.
"""

import errno
import logging
import os
import shutil
import stat
import time
import zipfile
import zlib
from collections import deque
from pathlib import Path
from typing import Sequence

from vrmonitor.errors import CommandError
from vrmonitor.paths import Paths

LOG = logging.getLogger(__name__)

KEYWORDS = {
    "iptables": ("iptables-save",),
    "ipaddr": ("ip", "address"),
    "iprule": ("ip", "rule", "list"),
    "iproute": ("ip", "route", "show", "table", "all"),
}
SCRIPTS_FOLDER = "/opt/cloud/bin"
VM_HOME = "/root"
ZIP_PREFIX = "diagnostics_files_"
FILEINFO = "fileinfo.txt"
NOT_FOUND = "File Not Found!!"
# Where the keyword commands live on Debian, searched after $PATH (an SSH session may lack sbin).
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
MAX_SYMLINKS = 40
CHUNK = 1024 * 1024
# Bytes a member costs beyond its data and name: its local header (30, zip64 extra 20) and
# its central directory entry (46, zip64 extra up to 28), with slack; each holds the name once.
LOCAL_HEADER = 64
CENTRAL_ENTRY = 96
ARCHIVE_OVERHEAD = 512  # end of central directory (zip64 records included) and slack
EPOCH_1980 = (1980, 1, 1, 0, 0, 0)


class NotAdded(Exception):
    """A path that cannot be added; the message says why (for a Note line)."""


class _ReadError(Exception):
    """Reading a file being added failed (as opposed to writing the zip, which is fatal)."""


def collect(paths: Paths, items: Sequence[str], command_timeout: float = 60.0,
            zip_max_bytes: int = 104857600, now: float | None = None) -> Path:
    """Build the diagnostics zip for `items`; return where it is.

    Raises OSError when the zip itself cannot be created or written (then no zip is left).
    """
    cleaned = _distinct(item.strip() for item in items if item.strip())
    folder = paths.under(VM_HOME)
    folder.mkdir(parents=True, exist_ok=True)
    target, fd = create_exclusive(folder, time.localtime(now))
    try:
        with os.fdopen(fd, "wb") as handle:
            builder = _Builder(handle, zip_max_bytes, _reserve(cleaned))
            for item in cleaned:
                _add_item(builder, paths, item, command_timeout, zip_max_bytes)
            builder.finish()
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def create_exclusive(folder: Path, when: time.struct_time) -> tuple[Path, int]:
    """The first free `diagnostics_files_<stamp>[-N].zip` in folder, created (O_EXCL), and its fd."""
    stamp = time.strftime("%Y%m%d-%H%M%S", when)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    number = 0
    while True:
        suffix = f"-{number}" if number else ""
        target = folder / f"{ZIP_PREFIX}{stamp}{suffix}.zip"
        try:
            return target, os.open(target, flags, 0o600)
        except FileExistsError:
            number += 1
        except OSError as exc:
            if exc.errno != errno.ELOOP:  # ELOOP: a symlink stands there; the name is taken
                raise
            number += 1


def _distinct(items) -> list[str]:
    """Items without repeats: the same path twice, or `iproute` and `[iproute]`."""
    seen, kept = set(), []
    for item in items:
        key = plan(item)
        if key not in seen:
            seen.add(key)
            kept.append(item)
    return kept


def plan(item: str) -> tuple[str, object]:
    """What an item is: ("command", argv), ("script", inner text) or ("file", vm path)."""
    if item in KEYWORDS:
        return "command", KEYWORDS[item]
    if len(item) > 3 and item.startswith("[") and item.endswith("]"):
        inner = item[1:-1]
        if inner in KEYWORDS:
            return "command", KEYWORDS[inner]
        return "script", inner
    return "file", item


def _add_item(builder: "_Builder", paths: Paths, item: str, timeout: float, cap: int) -> None:
    kind, what = plan(item)
    if kind == "file":
        _add_file(builder, paths, item)
        return
    label = item[1:-1] if item.startswith("[") else item
    log_name = label.replace("/", "_") + ".log"
    if kind == "command":
        data, notes = _command_output(list(what), timeout, cap, _working_folder(paths))
    else:
        argv = script_argv(paths, what)
        if argv is None:
            data, notes = f"Unable to generate command for {what}, perhaps missing file".encode(), []
        else:
            data, notes = _command_output(argv, timeout, cap, _working_folder(paths))
    stored = builder.add_bytes(log_name, data)
    if stored is None:
        builder.note(f"{log_name} left out: it would make the zip larger than "
                     f"{builder.limit} bytes")
        return
    builder.listing.append(stored)
    if stored != log_name:
        builder.note(f"{log_name} is stored as {stored} (another member has that name)")
    for note in notes:
        builder.note(f"{stored}: {note}")


def script_argv(paths: Paths, inner: str) -> list[str] | None:
    """argv of a `[script args]` item, or None when the script is not an executable regular
    file inside /opt/cloud/bin under the root (after following symlinks inside the root)."""
    words = inner.split()
    if not words:
        return None
    try:
        folder = resolve_under(paths.root, SCRIPTS_FOLDER)
        script = resolve_under(paths.root, f"{SCRIPTS_FOLDER}/{words[0]}")
        status = os.stat(script, follow_symlinks=False)
    except (OSError, NotAdded):
        return None
    inside = script.parent == folder or folder in script.parents
    if not inside or not stat.S_ISREG(status.st_mode) or not status.st_mode & 0o111:
        return None
    if not os.access(script, os.X_OK):
        return None
    return [str(script), *words[1:]]


def _command_output(argv: list[str], timeout: float, cap: int, cwd: str) -> tuple[bytes, list[str]]:
    """What a command printed (stdout if it exited 0, else stderr) and notes about the run."""
    from vrmonitor.system.process import run

    if "/" not in argv[0]:
        folders = [folder for folder in f"{os.environ.get('PATH', '')}:{SYSTEM_PATH}".split(":")
                   if folder.startswith("/")]  # never the working folder
        found = shutil.which(argv[0], path=":".join(folders))
        if found is None:
            return f"{argv[0]}: command not found\n".encode(), []
        argv = [found, *argv[1:]]
    try:
        done = run(argv, timeout=timeout, cap=cap, cwd=cwd)
    except CommandError as exc:
        return f"{exc}\n".encode(), []
    notes = []
    data = done.stdout if done.returncode == 0 and not done.timed_out else done.stderr
    if done.timed_out:
        notes.append(f"{Path(argv[0]).name} did not finish within {timeout:g} s and was stopped")
        data = done.stdout + done.stderr
    if done.stdout_truncated or done.stderr_truncated:
        notes.append(f"output cut at {cap} bytes")
    return data, notes


def _working_folder(paths: Paths) -> str:
    """The reference ran everything from /root; / when the root has no /root."""
    home = paths.under(VM_HOME)
    return str(home) if home.is_dir() else "/"


def _add_file(builder: "_Builder", paths: Paths, item: str) -> None:
    vm_path = item if item.startswith("/") else f"{VM_HOME}/{item}"
    name = os.path.basename(vm_path.rstrip("/")) or vm_path
    try:
        real = resolve_under(paths.root, vm_path)
        status = os.stat(real, follow_symlinks=False)
    except FileNotFoundError:
        builder.listing.append(f"{item}{NOT_FOUND}")
        return
    except (OSError, NotAdded) as exc:
        builder.listing.append(f"{item}{NOT_FOUND}")
        builder.note(f"{item}: {_reason(exc)}")
        return
    if not stat.S_ISREG(status.st_mode):
        builder.listing.append(f"{item}{NOT_FOUND}")
        builder.note(f"{item}: not a regular file ({_kind(status.st_mode)}), not added")
        return
    try:
        stored, problem = builder.add_file(name, real, status)
    except NotAdded as exc:
        builder.listing.append(f"{item}{NOT_FOUND}")
        builder.note(f"{item}: {exc}")
        return
    if problem:
        builder.note(f"{item}: {problem}")
    if stored is None:
        builder.note(f"{item} left out ({status.st_size} bytes): it would make the zip larger "
                     f"than {builder.limit} bytes")
        return
    builder.listing.append(item)
    if stored != name:
        builder.note(f"{item} is stored as {stored} (another member is named {name})")


def resolve_under(root: Path, vm_path: str) -> Path:
    """The real location of `vm_path` on a VM whose `/` is `root`, symlinks followed.

    Absolute symlink targets start again at root and `..` never climbs above it, so the result
    is always inside root. Raises FileNotFoundError for a missing component, NotAdded for a
    symlink loop or a non-folder in the middle of the path.
    """
    pending = deque(part for part in vm_path.split("/") if part not in ("", "."))
    current: list[str] = []
    links = 0
    while pending:
        part = pending.popleft()
        if part == "..":
            if current:
                current.pop()
            continue
        candidate = root.joinpath(*current, part)
        status = os.stat(candidate, follow_symlinks=False)
        if stat.S_ISLNK(status.st_mode):
            links += 1
            if links > MAX_SYMLINKS:
                raise NotAdded("too many levels of symbolic links")
            target = os.readlink(candidate)
            if target.startswith("/"):
                current = []
            pending.extendleft(reversed([p for p in target.split("/") if p not in ("", ".")]))
            continue
        if pending and not stat.S_ISDIR(status.st_mode):
            raise NotAdded(f"{'/' + '/'.join([*current, part])} is not a folder")
        current.append(part)
    return root.joinpath(*current)


def _reason(exc: BaseException) -> str:
    if isinstance(exc, OSError):
        return f"cannot be read: {exc.strerror or exc}"
    return str(exc)


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a folder"), (stat.S_ISCHR, "a character device"),
                       (stat.S_ISBLK, "a block device"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "not a regular file"


def _reserve(items: Sequence[str]) -> int:
    """Room kept for fileinfo.txt: each item yields at most a listing line and a note line."""
    lines = sum(5 * len(item.encode("utf-8", "surrogateescape")) + 300 for item in items)
    return lines + _member_cost(FILEINFO) + ARCHIVE_OVERHEAD


def _member_cost(name: str) -> int:
    return LOCAL_HEADER + CENTRAL_ENTRY + 2 * len(name.encode("utf-8", "surrogateescape"))


class _Builder:
    """Writes members into the zip while the whole stays within `limit` bytes.

    A member is added when its size (uncompressed, plus deflate's worst-case growth) fits what
    is left after the room kept for fileinfo.txt; if it does not, it is compressed once without
    being kept to learn its exact deflated size, and added if that fits.
    """

    def __init__(self, handle, limit: int, reserve: int):
        self.handle = handle
        self.limit = limit
        self.reserve = reserve
        self.zip = zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED)
        self.used_names = {FILEINFO}
        self.listing: list[str] = []
        self.notes: list[str] = []
        self.directory = 0  # bytes of central directory the members added so far will need

    def note(self, text: str) -> None:
        self.notes.append(f"Note: {text}")

    def unique(self, name: str) -> str:
        """`name`, or with `-2`, `-3`... before its extension when a member has it; bytes that
        are not UTF-8 (an odd file name) become U+FFFD."""
        name = name.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
        if name not in self.used_names:
            return name
        stem, dot, extension = name.rpartition(".")
        if not stem:  # no extension, or a dot file
            stem, dot, extension = name, "", ""
        number = 2
        while f"{stem}-{number}{dot}{extension}" in self.used_names:
            number += 1
        return f"{stem}-{number}{dot}{extension}"

    def _room(self, name: str) -> int:
        """Bytes of data `name` may take: the central directory of what is already in the
        zip is written at the end, so it counts too."""
        return (self.limit - self.reserve - self.handle.tell() - self.directory
                - _member_cost(name))

    def add_bytes(self, name: str, data: bytes) -> str | None:
        stored = self.unique(name)
        room = self._room(stored)
        if _upper_bound(len(data)) > room and _deflated_size([data]) > room:
            return None
        info = zipfile.ZipInfo(stored, time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        self.zip.writestr(info, data)
        return self._added(stored)

    def add_file(self, name: str, real: Path, status: os.stat_result) -> tuple[str | None, str]:
        """Add the regular file at `real` (lstat'ed as `status`) as `name` or a unique variant.

        Returns (stored name or None when it does not fit, a problem met while reading it or
        ""). NotAdded when it cannot be opened or is not the file that was looked at; OSError
        only for a failure to write the zip.
        """
        stored = self.unique(name)
        try:
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except OSError as exc:
            raise NotAdded(_reason(exc)) from exc
        with os.fdopen(fd, "rb") as source:
            opened = os.fstat(fd)
            if (opened.st_dev, opened.st_ino) != (status.st_dev, status.st_ino) \
                    or not stat.S_ISREG(opened.st_mode):
                raise NotAdded("changed while it was being added")
            size = opened.st_size  # a growing log is taken as it was when opened
            room = self._room(stored)
            if _upper_bound(size) > room:
                try:
                    if _deflated_size(_chunks(source, size)) > room:
                        return None, ""
                    source.seek(0)
                except (_ReadError, OSError) as exc:
                    raise NotAdded(_reason(exc.__cause__ or exc)) from exc
            info = zipfile.ZipInfo(stored, _zip_time(opened.st_mtime))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = (stat.S_IMODE(opened.st_mode) | stat.S_IFREG) << 16
            info.file_size = size
            problem = ""
            with self.zip.open(info, "w") as member:
                try:
                    for chunk in _chunks(source, size):
                        member.write(chunk)
                except _ReadError as exc:
                    problem = f"only partly added: {_reason(exc.__cause__)}"
        return self._added(stored), problem

    def _added(self, stored: str) -> str:
        self.used_names.add(stored)
        self.directory += CENTRAL_ENTRY + len(stored.encode("utf-8", "surrogateescape"))
        return stored

    def finish(self) -> None:
        """Write fileinfo.txt and close the zip."""
        text = "".join(f"{line}\n" for line in [*self.listing, *self.notes])
        info = zipfile.ZipInfo(FILEINFO, time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        self.zip.writestr(info, text.encode("utf-8", "surrogateescape"))
        self.zip.close()
        if self.handle.tell() > self.limit:
            LOG.warning("diagnostics zip is %d bytes, above the %d-byte limit (the limit is "
                        "smaller than fileinfo.txt needs)", self.handle.tell(), self.limit)


def _chunks(source, size: int):
    """The first `size` bytes of `source`, in chunks; _ReadError when reading fails."""
    remaining = size
    while remaining > 0:
        try:
            chunk = source.read(min(CHUNK, remaining))
        except OSError as exc:
            raise _ReadError() from exc
        if not chunk:
            return
        remaining -= len(chunk)
        yield chunk


def _upper_bound(size: int) -> int:
    """Deflate never grows data by more than this (stored blocks: 5 bytes per 16 KiB)."""
    return size + size // 1000 + 64


def _deflated_size(chunks) -> int:
    """The size zipfile's ZIP_DEFLATED gives these bytes (same level, raw deflate)."""
    compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED, -15)
    return sum(len(compressor.compress(chunk)) for chunk in chunks) + len(compressor.flush())


def _zip_time(mtime: float) -> tuple:
    when = time.localtime(mtime)[:6]
    return when if when >= EPOCH_1980 else EPOCH_1980
