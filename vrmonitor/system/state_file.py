"""vrmonitor's own state files (/var/lib/vrmonitor) read as untrusted input.

A state file outlives the process that wrote it: a crash, a full disk, a restore from backup or
a person can leave anything in its place. `load()` therefore reads it as the CloudStack inputs
are read, and a damaged file never stops a reader:

- opened with O_NOFOLLOW (a symlink is not followed) and O_NONBLOCK (a FIFO does not block),
  and only a regular file is read, at most MAX_BYTES;
- parsed as strict JSON (no NaN or Infinity), at most MAX_DEPTH levels deep;
- checked against its shape (the combinators below), each problem naming the field.

A damaged file is logged once (the file and what is wrong), renamed aside to
`<name>.damaged-<UTC time>` (the newest KEEP_DAMAGED are kept, for a post-mortem) and None is
returned: the caller starts afresh and its next write rebuilds the file.

Logging, pathlib and json are imported only to report and set aside a damaged file (JSON is
read by system/json_text.py): a sound one is read by cron's hand-off to the daemon and by
`vrmonitor status`, which must start fast.
"""

from __future__ import annotations

import errno
import os
import reprlib
import stat
import time

from vrmonitor.system.json_text import loads, quoted

TYPE_CHECKING = False  # typing's own flag would cost typing's import; mypy reads this one
if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    # A shape checks a decoded value found at `where` (a dotted path) and raises Damaged.
    Shape = Callable[[object, str], None]

# vrmonitor's largest state file is a few hundred KiB (daemon.json with hundreds of services, a
# long health history). 16 MiB leaves room for any real one, and bounds what a hostile file
# costs a reader: the worst parses in about 0.5 s and 120 MB, once (it is then set aside).
MAX_BYTES = 16 * 1024 * 1024
# vrmonitor writes at most 4 levels; deeper is damage, and would make json.dumps of it recurse.
MAX_DEPTH = 32
KEEP_DAMAGED = 3
DAMAGED_MARK = ".damaged-"
TOP_LEVEL = "(top level)"
# Times and counters vrmonitor writes: seconds before the year 5138 (localtime() fails on
# larger ones), counts below 2**53 (exact in every JSON reader).
LATEST = 1e11
MAX_COUNT = 2 ** 53

_SHORT = reprlib.Repr()
_SHORT.maxstring = _SHORT.maxother = 40
_SHORT.maxlist = _SHORT.maxdict = 3
_SHORT.maxlevel = 1


class Damaged(Exception):
    """What makes a state file unusable; str() names the field."""


def _log():
    import logging

    return logging.getLogger(__name__)


def load(path: str | Path, shape: Shape):
    """The document of state file `path`, or None: absent, unreadable, or damaged (set aside)."""
    identity = None
    try:
        identity = _identity(os.lstat(path))
        data = _read(path)
        document = _parse(data)
        shape(document, "")
    except FileNotFoundError:
        return None
    except Damaged as exc:
        _log().warning("%s: %s; %s", path, exc, set_aside(path, identity))
        return None
    except OSError as exc:  # EACCES, EIO: the file may be sound; leave it where it is
        _log().warning("%s: cannot read it (%s); starting without it", path, exc.strerror or exc)
        return None
    return document


def open_regular(path: str | Path) -> int:
    """A descriptor of `path` for reading: not through a symlink, not blocking on a FIFO.

    FileNotFoundError when absent, Damaged when `path` is not a regular file."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise Damaged("a symbolic link, not followed") from None
        if exc.errno == errno.ENXIO:
            raise Damaged("a socket, not a regular file") from None
        raise
    mode = os.fstat(fd).st_mode
    if not stat.S_ISREG(mode):
        os.close(fd)
        raise Damaged(f"{_kind(mode)}, not a regular file")
    return fd


def set_aside(path: str | Path, identity: tuple[int, int] | None = None) -> str:
    """Rename `path` to `<name>.damaged-<UTC time>`; says what was done, for the warning.

    identity: (st_dev, st_ino) of the file found damaged. A writer may have replaced it with a
    sound one since; that one is left in place."""
    from pathlib import Path

    path = Path(path)
    try:
        if identity is not None and _identity(os.lstat(path)) != identity:
            return "replaced meanwhile: left in place"
        target = _free_name(path)
        os.rename(path, target)
    except FileNotFoundError:
        return "already gone"
    except OSError as exc:
        return f"cannot set it aside ({exc.strerror or exc}); starting afresh"
    _prune(path)
    return f"set aside as {target.name}; starting afresh"


def _read(path: str | Path) -> bytes:
    fd = open_regular(path)
    try:
        if os.fstat(fd).st_size > MAX_BYTES:
            raise Damaged(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")
        chunks, size = [], 0
        while size <= MAX_BYTES:  # read to the end: the file may have grown since fstat
            chunk = os.read(fd, MAX_BYTES + 1 - size)
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        os.close(fd)
    if size > MAX_BYTES:
        raise Damaged(f"larger than {MAX_BYTES // (1024 * 1024)} MiB")  # it grew while read
    return b"".join(chunks)


def _identity(info: os.stat_result) -> tuple[int, int]:
    return info.st_dev, info.st_ino


def _parse(data: bytes):
    if not data.strip():
        raise Damaged("empty")
    try:
        document = loads(data, parse_constant=_no_constant)
    except RecursionError:
        raise Damaged(f"nested more than {MAX_DEPTH} levels deep") from None
    except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise Damaged(f"not JSON ({exc})") from None
    if _depth(document) > MAX_DEPTH:
        raise Damaged(f"nested more than {MAX_DEPTH} levels deep")
    return document


def _no_constant(name: str):
    raise ValueError(f"{name} is not a JSON number")


def _depth(document) -> int:
    """How deeply lists and objects nest, without recursion (the document may be deep)."""
    deepest, pending = 0, [(document, 1)]
    while pending:
        value, level = pending.pop()
        if isinstance(value, (dict, list)):
            deepest = max(deepest, level)
            if level > MAX_DEPTH:
                return level
            children = value.values() if isinstance(value, dict) else value
            pending.extend((child, level + 1) for child in children)
    return deepest


def _kind(mode: int) -> str:
    for test, name in ((stat.S_ISDIR, "a directory"), (stat.S_ISFIFO, "a FIFO"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device"),
                       (stat.S_ISSOCK, "a socket")):
        if test(mode):
            return name
    return "a special file"


def _free_name(path: Path) -> Path:
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    target = path.with_name(f"{path.name}{DAMAGED_MARK}{stamp}")
    number = 1
    while os.path.lexists(target):  # two damaged copies in one second: keep both
        number += 1
        target = path.with_name(f"{path.name}{DAMAGED_MARK}{stamp}-{number}")
    return target


def _prune(path: Path) -> None:
    """Keep the newest KEEP_DAMAGED copies set aside: a file damaged over and over must not
    fill /var."""
    prefix = f"{path.name}{DAMAGED_MARK}"
    try:
        names = sorted((name for name in os.listdir(path.parent) if name.startswith(prefix)),
                       key=lambda name: _age(name[len(prefix):]))
    except OSError:
        return
    for name in names[:-KEEP_DAMAGED]:
        try:
            os.unlink(path.parent / name)
        except OSError as exc:  # a directory set aside, a read-only folder: kept
            _log().debug("cannot remove %s: %s", path.parent / name, exc)


def _age(suffix: str) -> tuple[str, int]:
    """`20240501T100305Z` or `20240501T100305Z-12`, in the order they were set aside."""
    stamp, _, number = suffix.partition("-")
    return stamp, int(number) if number.isdigit() else 1


# --- shapes: each raises Damaged naming the field; keys a shape does not list are ignored, so
# a state file written by an older or newer vrmonitor still loads ---

def integer(low: int = 0, high: int = MAX_COUNT) -> Shape:
    def check(value, where):
        if type(value) is not int or not low <= value <= high:  # not bool
            _wrong(value, where, f"an integer from {low} to {high}")
    return check


def number(low: float = 0.0, high: float = LATEST) -> Shape:
    def check(value, where):
        if type(value) not in (int, float) or not low <= value <= high:  # not bool
            _wrong(value, where, f"a number from {low:g} to {high:g}")
    return check


def text(value, where) -> None:
    if not isinstance(value, str):
        _wrong(value, where, "a string")


def flag(value, where) -> None:
    if not isinstance(value, bool):
        _wrong(value, where, "true or false")


def nullable(shape: Shape) -> Shape:
    def check(value, where):
        if value is not None:
            shape(value, where)
    return check


def either(first: Shape, second: Shape) -> Shape:
    def check(value, where):
        try:
            first(value, where)
        except Damaged:
            second(value, where)
    return check


def list_of(shape: Shape, min_items: int = 0) -> Shape:
    def check(value, where):
        if not isinstance(value, list):
            _wrong(value, where, "a list")
        if len(value) < min_items:
            raise Damaged(f"{where or TOP_LEVEL}: needs at least {min_items} item(s)")
        for index, item in enumerate(value):
            shape(item, _join(where, index))
    return check


def table(shape: Shape) -> Shape:
    """An object whose every value has `shape` (its keys are names: services, checks)."""
    def check(value, where):
        if not isinstance(value, dict):
            _wrong(value, where, "an object")
        for key, item in value.items():
            shape(item, _join(where, key))
    return check


def record(required: tuple[str, ...] = (), **fields: Shape) -> Shape:
    """An object; each listed key, when present, has its shape; the `required` keys must be."""
    def check(value, where):
        if not isinstance(value, dict):
            _wrong(value, where, "an object")
        for key in required:
            if key not in value:
                raise Damaged(f"{_join(where, key)}: missing")
        for key, shape in fields.items():
            if key in value:
                shape(value[key], _join(where, key))
    return check


def problem(shape: Shape, value) -> str | None:
    """What is wrong with `value` (None: nothing), for callers that hold an already-loaded part."""
    try:
        shape(value, "")
    except Damaged as exc:
        return str(exc)
    return None


def _wrong(value, where: str, expected: str):
    raise Damaged(f"{where or TOP_LEVEL}: {_SHORT.repr(value)} is not {expected}")


def _join(where: str, key) -> str:
    part = str(key)
    if isinstance(key, str) and (not part or "." in part or part != part.strip()):
        part = quoted(key)
    return f"{where}.{part}" if where else part
