"""The alert writer every producer uses: the daemon, `monitorServices.py`, `vrmonitor raise-alert`.

Under the store's exclusive lock it takes the next sequence number from the journal, appends the
journal record, then the legacy line, rotating both at the size limit (rename-based, so readers
holding the shared lock see whole generations). The legacy log is opened with O_APPEND for each
alert, so an external logrotate `copytruncate` is harmless.

A name or message holding bytes that were not UTF-8 (`raise-alert`'s argv arrives with
surrogateescape) is written with each such byte as the text `\\xNN`: log and journal stay
UTF-8 and carry the same line, and the alert is not lost.
"""

import errno
import json
import logging
import os
import stat
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from vrmonitor.alerts.store import LOCK_WAIT, AlertStore, decode_record, reverse_lines
from vrmonitor.clock import SystemClock
from vrmonitor.cloudstack.alert_line import SEVERITIES, clean_text, format_line
from vrmonitor.cloudstack.utf8 import escaped
from vrmonitor.paths import Paths
from vrmonitor.system.boot import read_boot_id
from vrmonitor.system.safepath import open_in

LOG = logging.getLogger(__name__)
APPEND_FLAGS = os.O_RDWR | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC



@dataclass(frozen=True)
class Alert:
    seq: int
    time: str  # ISO 8601, microseconds and UTC offset
    boot_id: str
    severity: str
    name: str
    message: str
    line: str  # exactly as in routerServiceMonitor.log, without the newlines
    epoch: str  # the journal's: seqs count within one epoch (new_epoch)

    def record(self) -> dict:
        return {"seq": self.seq, "epoch": self.epoch, "time": self.time, "boot_id": self.boot_id,
                "severity": self.severity, "name": self.name, "message": self.message,
                "line": self.line}


class AlertWriter:
    def __init__(self, paths: Paths, max_bytes: int = 10 * 1024 * 1024, backups: int = 5,
                 clock=SystemClock(), lock_wait: float = LOCK_WAIT):
        self.store = AlertStore(paths, lock_wait)
        self.max_bytes = max_bytes
        self.backups = backups
        self.clock = clock
        self.boot_id = read_boot_id()

    def write(self, severity: str, name: str, message: str, when: float | None = None) -> Alert:
        """Append one alert; `when` (epoch seconds) is the time of an alert held back earlier.

        OSError (naming the file) when the disk refuses: nothing is half-written."""
        if severity not in SEVERITIES:
            raise ValueError(f"severity must be one of {', '.join(SEVERITIES)}, not {severity!r}")
        stamp = datetime.fromtimestamp(self.clock.wall() if when is None else when).astimezone()
        name, message = escaped(name), escaped(message)
        with self.store.locked(exclusive=True):
            self._repair_legacy_log()
            last = self.store.last_record()
            alert = Alert(seq=(last["seq"] if last else 0) + 1,
                          epoch=(last.get("epoch") if last else None) or new_epoch(),
                          time=stamp.isoformat(timespec="microseconds"), boot_id=self.boot_id,
                          severity=severity, name=clean_text(name), message=clean_text(message),
                          line=format_line(stamp, severity, name, message))
            record = (json.dumps(alert.record(), ensure_ascii=False) + "\n").encode("utf-8")
            legacy = (alert.line + "\n\n").encode("utf-8")
            # Each file rotates at its own limit: the journal must not cost the router's small
            # /var more than the log itself does.
            self._rotate_if_full(self.store.journal, len(record), compressed_too=False)
            _append(self.store.journal, record)
            self._rotate_if_full(self.store.log, len(legacy), compressed_too=True)
            _append(self.store.log, legacy)
        return alert

    def repair_legacy_log(self) -> None:
        """At start-up: the legacy line of a writer that died after its journal record."""
        with self.store.locked(exclusive=True):
            self._repair_legacy_log()

    def _repair_legacy_log(self) -> None:
        """Append the journal's last line to the legacy log when the log lacks it (lock held)."""
        line = missing_legacy_line(self.store)
        if line is None:
            return
        LOG.warning("the legacy alert log lacked the journal's last alert (a writer died between "
                    "the two): appended %r", line)
        legacy = (escaped(line) + "\n\n").encode("utf-8")
        self._rotate_if_full(self.store.log, len(legacy), compressed_too=True)
        _append(self.store.log, legacy)

    def _rotate_if_full(self, path: Path, adding: int, compressed_too: bool) -> None:
        if _size(path) + adding > self.max_bytes:
            LOG.info("rotating %s", path)
            _shift(path, self.backups, compressed_too)


def new_epoch() -> str:
    """An id for a journal that starts empty (new, emptied or replaced): its seqs start at 1
    again, and the feed must not take them for the seqs it answered before (feed.poll).
    Random, so no rebuilt journal repeats one; a journal written before epochs existed gets
    one with its next alert."""
    return os.urandom(8).hex()


def missing_legacy_line(store: AlertStore) -> str | None:
    """The journal's last line if a writer died after its journal record and before its log line.

    Writers hold the lock from one append to the other, so only the last record can lack its line.
    It does when the log's newest lines reach the record before it (lines of other writers are
    passed over), or when the journal has one record and the log no line. When neither is found (logrotate
    truncated or compressed the log) nothing is appended: better a missing line than a repeat.
    """
    records = []
    for path in store.journal_generations():
        for raw in reverse_lines(path):
            record = decode_record(raw)
            if record is not None:
                records.append(record["line"])
            if len(records) == 2:
                break
        if len(records) == 2:
            break
    if not records:
        return None
    last, previous = records[0], records[1] if len(records) > 1 else None
    seen_lines = False
    for path in store.log_generations()[:2]:  # the current log and the one vrmonitor's rotation made
        if path.suffix == ".gz":
            return None
        for raw in reverse_lines(path):
            seen_lines = True
            if raw == escaped(last).encode("utf-8"):
                return None
            if previous is not None and raw == escaped(previous).encode("utf-8"):
                return last
    return last if previous is None and not seen_lines else None


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return 0


def _append(path: Path, data: bytes) -> None:
    """Append whole lines; if a crash left the file without a final newline, end that line first.

    A write the disk refuses part-way (ENOSPC) is cut back off, so no torn line is left for a
    reader; the OSError names the file."""
    # Never through a symlink, never blocked by a FIFO: an ordinary file or an error.
    fd = open_in(path, APPEND_FLAGS, 0o644, create=True)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise OSError(errno.EINVAL, "not a regular file", str(path))
        size = info.st_size
        if _ends_unterminated(fd, size):
            data = b"\n" + data
        written = 0
        try:
            while written < len(data):
                written += os.write(fd, data[written:])
        except OSError as exc:
            if written:
                os.ftruncate(fd, size)
            raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        os.close(fd)


def _ends_unterminated(fd: int, size: int) -> bool:
    return size > 0 and os.pread(fd, 1, size - 1) != b"\n"


def _shift(base: Path, backups: int, compressed_too: bool) -> None:
    """base -> base.1 -> ... -> base.<backups>; the oldest generation is dropped."""
    suffixes = ("", ".gz") if compressed_too else ("",)
    for n in range(backups, 0, -1):
        for suffix in suffixes:
            older = base.with_name(f"{base.name}.{n}{suffix}")
            if not older.exists():
                continue
            if n == backups:
                older.unlink()
            else:
                older.rename(base.with_name(f"{base.name}.{n + 1}{suffix}"))
    if base.exists():
        base.rename(base.with_name(f"{base.name}.1"))
