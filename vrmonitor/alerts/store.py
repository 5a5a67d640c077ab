"""Where alerts live: the legacy log, vrmonitor's journal beside it, and the lock they share.

- `/var/log/routerServiceMonitor.log` (+ `.1` ... `.N`, possibly `.gz` after logrotate): the lines
  the management server reads, byte-identical to the reference's.
- `/var/lib/vrmonitor/alerts/journal.jsonl` (+ `.1` ... `.N`): one JSON record per alert with its
  sequence number, precise time, boot id and the exact legacy line. The journal is written
  first, is never touched by logrotate, and rotates with the log, so it is the loss-free feed.
- `/var/lib/vrmonitor/alerts/lock`: writers hold it exclusively, readers shared, so a reader never
  sees half a rotation and two writers never interleave.
"""

import fcntl
import gzip
import json
import os
import re
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from vrmonitor.paths import Paths

BLOCK = 65536
# name.N or name.N.gz (ASCII digits only; N >= 1)
_GENERATION = re.compile(r"(.+)\.([1-9][0-9]*)(\.gz)?")


class AlertStore:
    def __init__(self, paths: Paths):
        self.log = paths.alert_log
        self.folder = paths.state_dir / "alerts"
        self.journal = self.folder / "journal.jsonl"
        self.lock_file = self.folder / "lock"
        self.polls_file = self.folder / "polls.json"

    @contextmanager
    def locked(self, exclusive: bool) -> Iterator[None]:
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
            yield
        finally:
            os.close(fd)

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

    def records_after(self, seq: int) -> list[dict] | None:
        """Journal records with a larger seq, oldest first; None if the journal no longer reaches back to seq."""
        newer: list[dict] = []
        for path in self.journal_generations():
            for line in reverse_lines(path):
                record = decode_record(line)
                if record is None:
                    continue
                if record["seq"] <= seq:
                    newer.reverse()
                    return newer
                newer.append(record)
        # The whole journal is newer than seq: complete only if it starts right after seq.
        if not newer or newer[-1]["seq"] == seq + 1:
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
    try:
        record = json.loads(line)
    except (ValueError, RecursionError):  # a torn or garbled line, nested too deeply even
        return None
    if isinstance(record, dict) and isinstance(record.get("seq"), int) and isinstance(record.get("line"), str):
        return record
    return None


def reverse_lines(path: Path) -> Iterator[bytes]:
    """Complete lines of a file from the last to the first, reading only as far back as asked.

    An unterminated last line (a write cut short) is not a line and is skipped.
    """
    if path.suffix == ".gz":
        yield from reversed(list(forward_lines(path)))
        return
    try:
        handle = open(path, "rb")
    except FileNotFoundError:
        return
    with handle:
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
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as handle:
            data = handle.read()
    except (FileNotFoundError, EOFError, OSError):
        return
    pieces = data.split(b"\n")
    pieces.pop()
    yield from pieces
