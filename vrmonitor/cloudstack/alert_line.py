"""The line format of /var/log/routerServiceMonitor.log and of getRouterAlerts.sh's answer.

A line is `YYYY-MM-DD HH:MM:SS,mmm [SEVERITY] [NAME] TEXT` in local time, followed by an empty
line (the reference's message ended in a newline). The management server splits
getRouterAlerts.sh's answer on the two characters backslash-n and keeps the newest entry's
`YYYY-MM-DD HH:MM:SS` (contract 2.4, 2.5).
"""

import re
from dataclasses import dataclass
from datetime import datetime

SEVERITIES = ("INFO", "ALERT")
NO_ALERTS = "No Alerts"
SEPARATOR = "\\n"  # the two characters backslash and n

# What every line vrmonitor returns must start with; the MS needs the seconds before the comma.
# ASCII digits only: other scripts' digits would sort after every real stamp.
STAMP = re.compile(r"(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d),\d{3} ", re.ASCII)
THRESHOLD = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.ASCII)


@dataclass(frozen=True)
class ParsedLine:
    second: str  # `YYYY-MM-DD HH:MM:SS`: sorts like the time it names
    severity: str | None
    name: str | None
    message: str


def stamp(when: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS,mmm` of a local time, as Python's logging writes it."""
    return f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d}"


def clean_text(text: str) -> str:
    """Text safe inside one alert line.

    Control characters (a newline above all) would split the line, and a backslash followed
    by `n` would split the alert in the MS's parser: the backslash goes, as the reference's
    `read` without -r dropped it.
    """
    text = "".join(" " if ch < " " or ch == "\x7f" else ch for ch in text)
    while "\\n" in text:  # once is not enough: `\\n` leaves `\n`
        text = text.replace("\\n", "n")
    return text


def format_line(when: datetime, severity: str, name: str, message: str) -> str:
    """One alert line, without the trailing newline and empty line."""
    return f"{stamp(when)} [{severity}] [{clean_text(name)}] {clean_text(message)}"


def parse_line(line: str) -> ParsedLine | None:
    """The parts of a log line, or None when it does not start with a timestamp."""
    match = STAMP.match(line)
    if not match:
        return None
    rest = line[match.end():]
    severity = name = None
    fields = re.match(r"\[([^\]]*)\] \[(.*?)\] ?", rest)
    if fields:
        severity, name = fields.group(1), fields.group(2)
        rest = rest[fields.end():]
    return ParsedLine(match.group(1), severity, name, rest)


def parse_threshold(date: str, time: str) -> str | None:
    """The MS's `YYYY-MM-DD HH:MM:SS` threshold, validated; None when it is not one."""
    text = f"{date} {time}"
    if not THRESHOLD.fullmatch(text):
        return None
    try:
        datetime.strptime(text, "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return text


def answer(lines: list[str]) -> str:
    """getRouterAlerts.sh's stdout: `No Alerts`, or the lines oldest first, each followed by `\\n`."""
    if not lines:
        return NO_ALERTS + "\n"
    return "".join(clean_text(line) + SEPARATOR for line in lines) + "\n"
