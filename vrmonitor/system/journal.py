"""Logging to the systemd journal through stderr, each line with its priority.

systemd connects a service's stderr to the journal and names that stream in $JOURNAL_STREAM
(`DEVICE:INODE`). A line starting with `<N>` (sd-daemon(3)'s syslog prefix) is stored with
priority N instead of the stream's default (info), so `journalctl -p err -u vrmonitor` shows
only real errors.
"""

import logging
import os
import sys

# logging level -> syslog priority (sd-daemon.h's SD_ERR and friends)
ERR = 3
PRIORITIES = ((logging.CRITICAL, 2), (logging.ERROR, ERR), (logging.WARNING, 4),
              (logging.INFO, 6))
DEBUG_PRIORITY = 7


def stderr_is_journal(environ=os.environ, stream=None) -> bool:
    """Whether stderr is the journal stream systemd set up ($JOURNAL_STREAM names it)."""
    device, _, inode = environ.get("JOURNAL_STREAM", "").partition(":")
    if not (device.isdigit() and inode.isdigit()):
        return False
    try:
        info = os.fstat((stream or sys.stderr).fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return (info.st_dev, info.st_ino) == (int(device), int(inode))


def priority(level: int) -> int:
    for threshold, value in PRIORITIES:
        if level >= threshold:
            return value
    return DEBUG_PRIORITY


class JournalFormatter(logging.Formatter):
    """`<N>message`, every line of it (a traceback too), with no time or name: the journal
    records both."""

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines() or [""])


def log_to_journal(level: int = logging.INFO) -> None:
    """Send this process's logging to stderr in the journal's form, from `level` up."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JournalFormatter("%(message)s"))
    logger = logging.getLogger()
    logger.handlers[:] = [handler]
    logger.setLevel(level)
