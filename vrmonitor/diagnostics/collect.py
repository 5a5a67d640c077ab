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

Bounds, so that a huge or sparse file can neither stall the run past the management server's
timeout nor turn the zip into a bomb ([diagnostics] in vrmonitor.toml):
- each item puts at most item_max_bytes (before compression) into the zip: a file its last
  bytes, since a log's newest lines are at its end; a command's output its first bytes;
- a sparse file (fewer bytes on disk than SPARSE_FACTOR-th of its size) gives at most
  SPARSE_FACTOR times its bytes on disk (at least SPARSE_FLOOR) of its end: holes read as zeros;
- all members together hold at most unpacked_max_bytes, and the zip at most zip_max_bytes;
- once collect_deadline seconds have passed, the items not reached yet are left out, a running
  command is stopped and a file being read is cut where the reading stopped.
Sizes are taken with fstat on the opened file, before anything is read.

Paths are resolved inside the root, as if it were `/`: a symlink's absolute target is a VM path
under the root and `..` stops at the root, so nothing outside the root is ever read (on a VM,
root `/`, this is ordinary resolution, e.g. /etc/resolv.conf -> /run/...). A file is added only
if what the path finally names is a regular file: devices, FIFOs, sockets and folders are
refused without being opened (opening a device can act: /dev/watchdog).

fileinfo.txt lists, one per line, the contract path of each file added (a generated log by its
relative name), `<path>File Not Found!!` for each path that could not be added (missing ones
too: the reference skipped those silently), then `Note: ...` lines for members stored under
another name (duplicate basenames get `-2`, `-3` before the extension), paths that were not
regular files, what was cut or left out by the bounds above and why.

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

from vrmonitor.config.settings import DiagnosticsSettings
from vrmonitor.errors import CommandError
from vrmonitor.paths import CLOUD_BIN, VM_HOME, Paths

LOG = logging.getLogger(__name__)

KEYWORDS = {
    "iptables": ("iptables-save",),
    "ipaddr": ("ip", "address"),
    "iprule": ("ip", "rule", "list"),
    "iproute": ("ip", "route", "show", "table", "all"),
}
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
# A file with fewer bytes on disk than its size / SPARSE_FACTOR has holes, which read as zeros
# and deflate about 1000:1. Filesystems that compress (ZFS, btrfs) report a few times less
# than the size for text, so 8 leaves real logs whole while a hole of any size yields at most
# 8 times the data actually stored. The floor covers files with no blocks at all, whose data
# lives in the inode (ext4 inline data) or nowhere (sysfs reports 4096 bytes, 0 blocks).
SPARSE_FACTOR = 8
SPARSE_FLOOR = 64 * 1024
BLOCK = 512  # st_blocks counts 512-byte units on Linux, whatever the filesystem's block size


class NotAdded(Exception):
    """A path that cannot be added; the message says why (for a Note line)."""


class _ReadError(Exception):
    """Reading a file being added failed (as opposed to writing the zip, which is fatal)."""


class _OutOfTime(Exception):
    """The collection's deadline passed while a file was being read."""


class _Deadline:
    """The collection's end, on the monotonic clock (wall-clock steps do not move it)."""

    def __init__(self, seconds: float):
        self.seconds = seconds
        self.end = time.monotonic() + seconds

    def left(self) -> float:
        return self.end - time.monotonic()

    def passed(self) -> bool:
        return self.left() <= 0

    def check(self) -> None:
        if self.passed():
            raise _OutOfTime()

    def reason(self) -> str:
        return f"[diagnostics] collect_deadline ({self.seconds:g} s)"


def collect(paths: Paths, items: Sequence[str], limits: DiagnosticsSettings = DiagnosticsSettings(),
            now: float | None = None) -> Path:
    """Build the diagnostics zip for `items`; return where it is.

    `limits`: the [diagnostics] bounds (the defaults: as with no vrmonitor.toml). Raises
    OSError when the zip itself cannot be created or written (then no zip is left).
    """
    deadline = _Deadline(limits.collect_deadline)
    cleaned = _distinct(item.strip() for item in items if item.strip())
    folder = paths.under(VM_HOME)
    folder.mkdir(parents=True, exist_ok=True)
    target, fd = create_exclusive(folder, time.localtime(now))
    try:
        with os.fdopen(fd, "wb") as handle:
            builder = _Builder(handle, limits, _reserve(cleaned), deadline)
            for item in cleaned:
                if deadline.passed():
                    builder.note(f"{item} left out: {deadline.reason()} had passed")
                    continue
                _add_item(builder, paths, item)
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


def plan(item: str) -> tuple[str, tuple[str, ...] | str]:
    """What an item is: ("command", argv), ("script", inner text) or ("file", vm path)."""
    if item in KEYWORDS:
        return "command", KEYWORDS[item]
    if len(item) > 3 and item.startswith("[") and item.endswith("]"):
        inner = item[1:-1]
        if inner in KEYWORDS:
            return "command", KEYWORDS[inner]
        return "script", inner
    return "file", item


def _add_item(builder: "_Builder", paths: Paths, item: str) -> None:
    kind, what = plan(item)
    if kind == "file":
        _add_file(builder, paths, item)
        return
    label = item[1:-1] if item.startswith("[") else item
    log_name = label.replace("/", "_") + ".log"
    # A command's argv is a tuple (KEYWORDS), a script's inner text a str.
    argv = list(what) if isinstance(what, tuple) else script_argv(paths, what)
    notes: list[str]
    if argv is None:
        data, notes = f"Unable to generate command for {what}, perhaps missing file".encode(), []
    else:
        data, notes = _command_output(argv, builder, _working_folder(paths))
    data, cut = builder.fit_unpacked(data)
    if cut:
        notes.append(cut)
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
        folder = resolve_under(paths.root, CLOUD_BIN)
        script = resolve_under(paths.root, f"{CLOUD_BIN}/{words[0]}")
        status = os.stat(script, follow_symlinks=False)
    except (OSError, NotAdded):
        return None
    inside = script.parent == folder or folder in script.parents
    if not inside or not stat.S_ISREG(status.st_mode) or not status.st_mode & 0o111:
        return None
    if not os.access(script, os.X_OK):
        return None
    return [str(script), *words[1:]]


def _command_output(argv: list[str], builder: "_Builder", cwd: str) -> tuple[bytes, list[str]]:
    """What a command printed (stdout if it exited 0, else stderr) and notes about the run.

    It runs for [diagnostics] command_timeout, or until the collection's deadline if that
    comes first, and keeps at most the item's share of bytes of each stream.
    """
    from vrmonitor.system.process import run

    limits, deadline = builder.limits, builder.deadline
    timeout = min(limits.command_timeout, deadline.left())
    cap = min(limits.zip_max_bytes, limits.item_max_bytes)

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
        stopped = (f"was stopped at the {deadline.reason()}" if timeout < limits.command_timeout
                   else f"did not finish within {timeout:g} s and was stopped")
        notes.append(f"{Path(argv[0]).name} {stopped}")
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
        stored, cut, problem = builder.add_file(name, real, status)
    except NotAdded as exc:
        builder.listing.append(f"{item}{NOT_FOUND}")
        builder.note(f"{item}: {exc}")
        return
    if problem:
        builder.note(f"{item}: {problem}")
    if stored is None:
        why = cut or f"it would make the zip larger than {builder.limit} bytes"
        builder.note(f"{item} left out ({status.st_size} bytes): {why}")
        return
    builder.listing.append(item)
    if cut:
        builder.note(f"{item}: {cut}")
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
    """Room kept for fileinfo.txt: each item yields at most a listing line and three notes
    (another name, a cut, a problem), each naming the item, a stored name up to three times
    its length (U+FFFD for undecodable bytes) and sizes."""
    lines = sum(8 * len(item.encode("utf-8", "surrogateescape")) + 600 for item in items)
    return lines + _member_cost(FILEINFO) + ARCHIVE_OVERHEAD


def _member_cost(name: str) -> int:
    return LOCAL_HEADER + CENTRAL_ENTRY + 2 * len(name.encode("utf-8", "surrogateescape"))


class _Builder:
    """Writes members into the zip while the whole stays within `limit` bytes.

    A member is added when its size (uncompressed, plus deflate's worst-case growth) fits what
    is left after the room kept for fileinfo.txt; if it does not, it is compressed once without
    being kept to learn its exact deflated size, and added if that fits. `unpacked` counts the
    members' bytes before compression, against [diagnostics] unpacked_max_bytes.
    """

    def __init__(self, handle, limits: DiagnosticsSettings, reserve: int, deadline: _Deadline):
        self.handle = handle
        self.limits = limits
        self.limit = limits.zip_max_bytes
        self.reserve = reserve
        self.deadline = deadline
        self.zip = zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED)
        self.used_names = {FILEINFO}
        self.listing: list[str] = []
        self.notes: list[str] = []
        self.directory = 0  # bytes of central directory the members added so far will need
        self.unpacked = 0

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

    def _unpacked_left(self) -> int:
        return max(0, self.limits.unpacked_max_bytes - self.unpacked)

    def fit_unpacked(self, data: bytes) -> tuple[bytes, str]:
        """A log's data within what unpacked_max_bytes leaves (its start, as the command's
        output cap keeps), and a note when it was cut."""
        left = self._unpacked_left()
        if len(data) <= left:
            return data, ""
        return data[:left], (f"output cut at {left} bytes: [diagnostics] unpacked_max_bytes is "
                             f"{self.limits.unpacked_max_bytes}")

    def window(self, opened: os.stat_result) -> tuple[int, str]:
        """How many bytes to take from the end of the file fstat'ed as `opened`, and why
        fewer than its size ("" when all of it)."""
        allocated = opened.st_blocks * BLOCK
        item_max = self.limits.item_max_bytes
        bounds = ((opened.st_size, ""),
                  (item_max, f"[diagnostics] item_max_bytes is {item_max}"),
                  (max(allocated * SPARSE_FACTOR, SPARSE_FLOOR),
                   f"a sparse file, {allocated} bytes on disk"),
                  (self._unpacked_left(),
                   f"[diagnostics] unpacked_max_bytes is {self.limits.unpacked_max_bytes}"))
        return min(bounds, key=lambda bound: bound[0])  # a tie keeps the earlier: size first

    def add_bytes(self, name: str, data: bytes) -> str | None:
        stored = self.unique(name)
        room = self._room(stored)
        if _upper_bound(len(data)) > room and _deflated_size([data]) > room:
            return None
        info = zipfile.ZipInfo(stored, time.localtime()[:6])
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IFREG | 0o644) << 16
        self.zip.writestr(info, data)
        self.unpacked += len(data)
        return self._added(stored)

    def add_file(self, name: str, real: Path,
                 status: os.stat_result) -> tuple[str | None, str, str]:
        """Add the regular file at `real` (lstat'ed as `status`) as `name` or a unique variant.

        Returns (stored name or None when it was left out, what was cut or why it was left out
        or "", a problem met while reading it or ""). NotAdded when it cannot be opened, is not
        the file that was looked at, or the deadline passed while it was being measured;
        OSError only for a failure to write the zip.
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
            length, why = self.window(opened)
            if length == 0 and size > 0:
                return None, why, ""
            if not self._fits(source, size - length, length, stored):
                return None, "", ""
            cut = f"only its last {length} of {size} bytes added: {why}" if why else ""
            problem = self._copy(source, length, stored, opened)
        return self._added(stored), cut, problem

    def _fits(self, source, start: int, length: int, stored: str) -> bool:
        """Whether `length` bytes from `start` fit the zip as `stored`; leaves `source` at
        `start`. Compresses them once (not kept) only when the cheap bound says no."""
        try:
            source.seek(start)
            if _upper_bound(length) <= self._room(stored):
                return True
            fits = _deflated_size(_chunks(source, length, self.deadline)) <= self._room(stored)
            source.seek(start)
        except _OutOfTime as exc:
            raise NotAdded(f"left out: {self.deadline.reason()} passed while it was being "
                           f"read") from exc
        except (_ReadError, OSError) as exc:
            raise NotAdded(_reason(exc.__cause__ or exc)) from exc
        return fits

    def _copy(self, source, length: int, stored: str, opened: os.stat_result) -> str:
        """Write `length` bytes of `source` as member `stored`; a problem met reading or ""."""
        info = zipfile.ZipInfo(stored, _zip_time(opened.st_mtime))
        info.compress_type = zipfile.ZIP_DEFLATED
        info.external_attr = (stat.S_IMODE(opened.st_mode) | stat.S_IFREG) << 16
        info.file_size = length  # decides zip64; closing the member sets what was written
        problem = ""
        with self.zip.open(info, "w") as member:
            try:
                for chunk in _chunks(source, length, self.deadline):
                    member.write(chunk)
            except _ReadError as exc:
                assert exc.__cause__ is not None  # _chunks raises it from the OSError
                problem = f"only partly added: {_reason(exc.__cause__)}"
            except _OutOfTime:
                problem = (f"only partly added: {self.deadline.reason()} passed while it was "
                           f"being read")
        self.unpacked += info.file_size
        return problem

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


def _chunks(source, size: int, deadline: _Deadline):
    """The next `size` bytes of `source`, in chunks; _ReadError when reading fails,
    _OutOfTime when the deadline passes before the next chunk."""
    remaining = size
    while remaining > 0:
        deadline.check()
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
