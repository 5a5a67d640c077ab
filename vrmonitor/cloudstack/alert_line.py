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

# An alert is a line that starts with a local date and time to the second, as the management
# server reads the newest one with SimpleDateFormat("yyyy-MM-dd HH:mm:ss") (contract 2.5): a
# space after the date (more spaces or tabs may follow it), one- or two-digit fields after the
# year, and anything after the seconds but another digit (of any script: Java reads them all).
# `,mmm` is optional: the reference forwarded lines without it, and the server reads them.
# The fields themselves are ASCII digits: other scripts' digits would not sort with real stamps.
STAMP = re.compile(r"[ \t]*([0-9]{4})-([0-9][0-9]?)-([0-9][0-9]?) [ \t]*([0-9][0-9]?):"
                   r"([0-9][0-9]?):([0-9][0-9]?)(?!\d)(?:,([0-9]{3})(?!\d))?")
# The server sends the newest line back up to its first comma, and the router's login shell
# re-splits it (contract 1): a metacharacter there would be run by the shell, or break the
# command so that every later poll fails.
SHELL_SPECIAL = re.compile(r"[;&|$`()<>\\'\"\n]")
FIELDS = re.compile(r" ?\[([^\]]*)\] \[(.*?)\] ?")
CONTROL_TO_SPACE = {code: " " for code in (*range(32), 127)}
DAYS_IN_MONTH = (31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


@dataclass(frozen=True)
class ParsedLine:
    second: str  # `YYYY-MM-DD HH:MM:SS`, zero-padded: sorts like the time it names
    millis: int | None  # the `,mmm` after the seconds, when the line has it
    severity: str | None
    name: str | None
    message: str

    def local_time(self) -> str:
        """The line's own stamp as ISO 8601 with microseconds and the VM's UTC offset then."""
        when = datetime.strptime(self.second, "%Y-%m-%d %H:%M:%S")
        when = when.replace(microsecond=(self.millis or 0) * 1000)
        try:
            when = when.astimezone()
        except (ValueError, OverflowError, OSError):  # beyond what the C library can convert
            when = when.replace(tzinfo=datetime.now().astimezone().tzinfo)
        return when.isoformat(timespec="microseconds")


def stamp(when: datetime) -> str:
    """`YYYY-MM-DD HH:MM:SS,mmm` of a local time, as Python's logging writes it."""
    return f"{when:%Y-%m-%d %H:%M:%S},{when.microsecond // 1000:03d}"


def clean_text(text: str) -> str:
    """Text safe inside one alert line.

    Control characters (a newline above all) would split the line, and a backslash followed
    by `n` would split the alert in the MS's parser: the backslash goes, as the reference's
    `read` without -r dropped it.
    """
    text = text.translate(CONTROL_TO_SPACE)
    while "\\n" in text:  # once is not enough: `\\n` leaves `\n`
        text = text.replace("\\n", "n")
    return text


def format_line(when: datetime, severity: str, name: str, message: str) -> str:
    """One alert line, without the trailing newline and empty line."""
    return f"{stamp(when)} [{severity}] [{clean_text(name)}] {clean_text(message)}"


def parse_line(line: str) -> ParsedLine | None:
    """The parts of a log line, or None when it is not an alert: it does not start with a real
    calendar date and time (the server would drop the whole answer were it the newest), or
    its text up to the first comma, which the server sends back through the router's shell,
    holds a shell metacharacter (SHELL_SPECIAL)."""
    match = STAMP.match(line)
    second = _second(match) if match else None
    if match is None or second is None or SHELL_SPECIAL.search(line.split(",", 1)[0]):
        return None
    rest = line[match.end():]
    severity = name = None
    fields = FIELDS.match(rest)
    if fields:
        severity, name = fields.group(1), fields.group(2)
        rest = rest[fields.end():]
    else:
        rest = rest[1:] if rest.startswith(" ") else rest
    millis = int(match.group(7)) if match.group(7) else None
    return ParsedLine(second, millis, severity, name, rest)


def parse_threshold(date: str, time: str) -> str | None:
    """The management server's last timestamp (zero-padded `YYYY-MM-DD HH:MM:SS`), or None when
    it is not one. It sends back the newest line up to its first comma, so whatever that line's
    stamp is followed by is ignored, as parse_line ignores it."""
    match = STAMP.match(f"{date} {time}")
    return _second(match) if match else None


def _second(match: re.Match) -> str | None:
    """The zero-padded stamp of a STAMP match, or None when it names no real time (checked by
    arithmetic, not datetime(): a poll of a large log parses every line)."""
    year, month, day, hour, minute, second = map(int, match.group(1, 2, 3, 4, 5, 6))
    if not (_real_day(year, month, day) and hour < 24 and minute < 60 and second < 60):
        return None
    # Not strftime: glibc's %Y does not pad years before 1000, which would then sort last.
    return f"{year:04d}-{month:02d}-{day:02d} {hour:02d}:{minute:02d}:{second:02d}"


def _real_day(year: int, month: int, day: int) -> bool:
    """Whether the date exists in the proleptic Gregorian calendar (as datetime has it)."""
    if year < 1 or not 1 <= month <= 12 or day < 1:
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return day <= DAYS_IN_MONTH[month - 1] + (month == 2 and leap)


def answer(lines: list[str]) -> str:
    """getRouterAlerts.sh's stdout: `No Alerts`, or the lines oldest first, each followed by `\\n`."""
    if not lines:
        return NO_ALERTS + "\n"
    return "".join(clean_text(line) + SEPARATOR for line in lines) + "\n"
