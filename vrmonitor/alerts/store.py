"""Where alerts live: the legacy log, vrmonitor's journal beside it, and the lock they share.

- `/var/log/routerServiceMonitor.log` (+ `.1` ... `.N`, possibly `.gz` after logrotate): the lines
  the management server reads, byte-identical to the reference's.
- `/var/lib/vrmonitor/alerts/journal.jsonl` (+ `.1` ... `.N`): one JSON record per alert with its
  sequence number, precise time, boot id and the exact legacy line. The journal is written
  first, is never touched by logrotate, and rotates with the log, so it is the loss-free feed.
- `/var/lib/vrmonitor/alerts/lock`: writers hold it exclusively, readers shared, so a reader never
  sees half a rotation and two writers never interleave. Only root can open it (system.locks).
"""

import gzip
import json
import logging
import os
import re
import zlib
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator

from vrmonitor.cloudstack.alert_line import parse_line
from vrmonitor.paths import Paths
from vrmonitor.system.locks import held
from vrmonitor.system.state_file import Damaged, open_regular

LOG = logging.getLogger(__name__)

BLOCK = 65536
# How long a one-shot reader or writer waits for the lock (the daemon passes its own, shorter
# wait): far beyond any real holder (a write is milliseconds), well inside an ssh call's patience.
LOCK_WAIT = 10.0
# Seqs run from 1. A garbled line's larger "seq" is no record: the next seq must stay writable
# (json.dumps refuses ints of more than 4300 digits) and exact in every JSON reader.
MAX_SEQ = 2 ** 53
# Fields every record carries as text (older records have no epoch).
_TEXT_FIELDS = ("time", "severity", "name", "message", "epoch")
# name.N or name.N.gz (ASCII digits only; N >= 1)
_GENERATION = re.compile(r"(.+)\.([1-9][0-9]*)(\.gz)?")


class AlertStore:
    def __init__(self, paths: Paths, lock_wait: float = LOCK_WAIT):
        self.lock_wait = lock_wait
        self.log = paths.alert_log
        self.folder = paths.state_dir / "alerts"
        self.journal = self.folder / "journal.jsonl"
        self.lock_file = self.folder / "lock"
        self.polls_file = self.folder / "polls.json"

    @contextmanager
    def locked(self, exclusive: bool) -> Iterator[None]:
        """The lock held for the block (root's alone: system.locks); LockTimeout, an OSError
        naming the lock, when another process holds it past `lock_wait`."""
        with held(self.lock_file, exclusive, self.lock_wait):
            yield

    def log_generations(self) -> list[Path]:
        """The legacy log files that exist, newest first."""
        return _generations(self.log, compressed=True)

    def journal_generations(self) -> list[Path]:
        return _generations(self.journal, compressed=False)

    def last_record(self) -> dict | None:
        """The newest journal record (a torn last line, from a crash, is passed over)."""
        for path in self.journal_generations():
            for line in reverse_lines(path):
                record = decode_record(line)
                if record is not None:
                    return record
        return None

    def records_after(self, seq: int, anchor: Callable[[dict], bool] | None = None) -> list[dict] | None:
        """Journal records with a larger seq, oldest first; None if the journal no longer reaches back to seq.

        anchor: a test of record `seq` itself (a poll's remembered answer: its epoch and second).
        Then the journal must still hold that record and it must pass, else None: a journal
        emptied or replaced since numbers its alerts anew, and `seq` is another alert, or none.
        """
        newer: list[dict] = []
        for path in self.journal_generations():
            for line in reverse_lines(path):
                record = decode_record(line)
                if record is None:
                    continue
                if record["seq"] <= seq:
                    if anchor is not None and (record["seq"] != seq or not anchor(record)):
                        return None
                    newer.reverse()
                    return newer
                newer.append(record)
        # The whole journal is newer than seq: complete only if it starts right after seq (and
        # with an anchor never: the record that would prove it is the same journal is gone).
        if anchor is None and (not newer or newer[-1]["seq"] == seq + 1):
            newer.reverse()
            return newer
        return None

    def all_records(self) -> list[dict]:
        records = []
        for path in reversed(self.journal_generations()):
            for line in forward_lines(path):
                record = decode_record(line)
                if record is not None:
                    records.append(record)
        return records


def _generations(base: Path, compressed: bool) -> list[Path]:
    """`base` and its rotated generations, newest first: .1, .2, ... (.N.gz too when
    `compressed`; a plain file wins over a .gz of the same number).

    The folder is listed rather than probed .1, .2, ... until one is missing: a writer killed in
    the middle of a rotation leaves a gap (.1 renamed to .2, the base not yet to .1), and a gap
    must not hide the generations behind it from the feed.
    """
    try:
        names = set(os.listdir(base.parent))
    except FileNotFoundError:
        return []
    numbered: dict[int, str] = {}
    for name in names:
        match = _GENERATION.fullmatch(name)
        if match is None or match.group(1) != base.name or (match.group(3) and not compressed):
            continue
        number = int(match.group(2))
        if number not in numbered or not match.group(3):
            numbered[number] = name
    found = [base] if base.name in names else []
    return found + [base.with_name(numbered[n]) for n in sorted(numbered)]


def decode_record(line: bytes) -> dict | None:
    """The journal record on `line`, or None for a line that is none (torn by a crash, garbled,
    wrong-typed): such a line is passed over, never the end of a reader.

    A record's line must be an alert line: the feed hands it to the management server, which
    drops a whole answer whose newest line does not start with a date and time."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # a torn or garbled line, nested too deeply even
        return None
    if not isinstance(record, dict):
        return None
    seq, text = record.get("seq"), record.get("line")
    if type(seq) is not int or not 1 <= seq < MAX_SEQ:  # not bool
        return None
    if not isinstance(text, str) or parse_line(text) is None:
        return None
    if any(key in record and not isinstance(record[key], str) for key in _TEXT_FIELDS):
        return None
    if record.get("boot_id") is not None and not isinstance(record["boot_id"], str):
        return None
    return record


def reverse_lines(path: Path) -> Iterator[bytes]:
    """Complete lines of a file from the last to the first, reading only as far back as asked.

    An unterminated last line (a write cut short) is not a line and is skipped.
    """
    if path.suffix == ".gz":
        yield from reversed(list(forward_lines(path)))
        return
    fd = _open(path)
    if fd is None:
        return
    with open(fd, "rb") as handle:
        end = handle.seek(0, os.SEEK_END)
        pending = b""  # the start of a line whose beginning is further back
        in_tail = True  # still inside the part after the last newline: not a line
        while end > 0:
            start = max(0, end - BLOCK)
            handle.seek(start)
            data = handle.read(end - start) + pending
            end = start
            pieces = data.split(b"\n")
            pending = pieces.pop(0)
            if in_tail and pieces:
                pieces.pop()
                in_tail = False
            yield from reversed(pieces)
        if pending and not in_tail:
            yield pending


def forward_lines(path: Path) -> Iterator[bytes]:
    """Complete lines from first to last (the unterminated tail, if any, is skipped)."""
    try:
        fd = _open(path)
        if fd is None:
            return
        with open(fd, "rb") as handle:
            data = gzip.GzipFile(fileobj=handle).read() if path.suffix == ".gz" else handle.read()
    except (EOFError, OSError, zlib.error):  # a cut or corrupt .gz gives what it cannot
        return
    pieces = data.split(b"\n")
    pieces.pop()
    yield from pieces


def _open(path: Path) -> int | None:
    """A descriptor for reading `path`, or None when absent or not a regular file (logged): a
    FIFO in its place would block every reader, a symlink lead them to another file."""
    try:
        return open_regular(path)
    except FileNotFoundError:
        return None
    except Damaged as exc:
        LOG.warning("%s: %s; not read", path, exc)
        return None
