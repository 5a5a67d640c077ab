"""The management server's side of a call, re-expressed from cloudstack-contract.md for tests.

A stand-in, since CloudStack's KVM agent and management server (Java) cannot run here:
- `agent_call` runs an entry point as the agent does (contract 1): stderr merged into stdout,
  the bytes decoded as Java decodes them (U+FFFD for what is not UTF-8), every line followed by
  a newline, and success only on exit status 0;
- the parsers turn such an `Answer` into what the server makes of it, failing the way the Java
  code fails: an answer it drops raises `Dropped`.

`Answer.of(stdout)` wraps output produced in-process, for unit tests.
"""

import calendar
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

AGENT_ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}


class Dropped(AssertionError):
    """The management server discards the answer (and says why)."""


@dataclass(frozen=True)
class Answer:
    success: bool  # the exit status was 0
    details: str  # every line of stdout and stderr as merged, each followed by "\n"
    exit_status: int = 0

    @classmethod
    def of(cls, output: str | bytes, exit_status: int = 0) -> "Answer":
        """What the agent hands on for this merged output and exit status."""
        if isinstance(output, bytes):
            output = output.decode("utf-8", "replace")
        return cls(exit_status == 0, "".join(line + "\n" for line in _java_lines(output)),
                   exit_status)


def agent_call(argv: list[str], timeout: float = 120, cwd: str | Path = "/",
               env: dict | None = None, **options) -> Answer:
    """An entry point run as router_proxy.sh runs it over SSH: stderr merged at the pipe."""
    done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, cwd=cwd, env=env or AGENT_ENV,
                          timeout=timeout, check=False, **options)
    return Answer.of(done.stdout, done.returncode)


def _java_lines(text: str) -> list[str]:
    """BufferedReader.readLine: lines end at \\n, \\r or \\r\\n; no empty line after the last."""
    return re.split(r"\r\n|\r|\n", text[:-1] if text.endswith(("\n", "\r")) else text) if text else []


def java_trim(text: str) -> str:
    """String.trim(): every character up to U+0020 goes from both ends."""
    start, end = 0, len(text)
    while start < end and text[start] <= " ":
        start += 1
    while end > start and text[end - 1] <= " ":
        end -= 1
    return text[start:end]


def java_split(text: str, pattern: str) -> list[str]:
    """String.split(regex): trailing empty strings are removed."""
    parts = re.split(pattern, text)
    while parts and parts[-1] == "":
        parts.pop()
    return parts


# ---- alerts (contract 2.5) -------------------------------------------------------------------

def router_alerts(answer: Answer) -> tuple[list[str], str | None]:
    """VirtualRoutingResource + getRouterAlerts(): the alerts and the timestamp stored for the
    next poll ([] and None for `No Alerts`). A failed call, or a newest alert whose prefix
    SimpleDateFormat rejects, drops the batch."""
    if not answer.success:
        raise Dropped(f"the call failed (exit {answer.exit_status}): {answer.details!r}")
    text = java_trim(answer.details)
    if not text or text == "No Alerts":
        return [], None
    alerts = java_split(text, r"\\n")
    timestamp = alerts[-1].split(",")[0]
    if simple_date_format(timestamp) is None:
        raise Dropped(f"bad last alert timestamp {timestamp!r}")
    return alerts, timestamp


def simple_date_format(text: str) -> tuple[int, ...] | None:
    """Non-lenient SimpleDateFormat("yyyy-MM-dd HH:mm:ss").parse(text): the fields of the
    date-time that `text` starts with (what follows is ignored), or None (ParseException).

    Before each number, spaces and tabs are skipped; a number is as many decimal digits as
    follow (Java reads other scripts' digits too); literals must match exactly; the calendar
    then rejects fields out of range."""
    fields, at = [], 0
    for literal in ("", "-", "-", " ", ":", ":"):
        if literal:
            if not text.startswith(literal, at):
                return None
            at += len(literal)
        while at < len(text) and text[at] in " \t":
            at += 1
        start = at
        while at < len(text) and text[at].isdecimal():
            at += 1
        if at == start:
            return None
        fields.append(int(text[start:at]))
    year, month, day, hour, minute, second = fields
    if not (1 <= year and 1 <= month <= 12 and hour <= 23 and minute <= 59 and second <= 59):
        return None
    if not 1 <= day <= calendar.monthrange(min(year, 9999), month)[1]:
        return None
    return tuple(fields)


# ---- health results (contract 3.6, 3.8) ------------------------------------------------------

def health_results(answer: Answer) -> tuple[list[str], dict]:
    """parseLinesForHealthChecks and the Gson read: (failing checks, results).

    A failed call makes the server store a failing `connectivity.test` and nothing else:
    raised as Dropped. Lines are trimmed; a line containing FAILING CHECKS / MONITOR RESULTS
    switches mode; failing lines are split on commas; result lines are concatenated without a
    separator and read as Map<String, Map<String, Map<String, String>>> by Gson 1.7.2."""
    if not answer.success:
        raise Dropped(f"connectivity.test fails: the call failed (exit {answer.exit_status}): "
                      f"{answer.details!r}")
    text = java_trim(answer.details)
    if not text:
        raise Dropped("No results available.")
    failing, results, mode = [], "", None
    for line in (java_trim(part) for part in text.split("\n")):
        if "FAILING CHECKS" in line:
            mode = "failing"
        elif "MONITOR RESULTS" in line:
            mode = "results"
        elif mode == "failing":
            failing.extend(name for name in (java_trim(n) for n in line.split(",")) if name)
        elif mode == "results":
            results += line
    return failing, gson_results(results)


def gson_results(text: str) -> dict:
    """Gson 1.7.2 reading Map<String, Map<String, Map<String, String>>>: lenient, the last of
    duplicate keys wins, scalars read as their text; anything else where a map or a string is
    expected fails the whole read."""
    value = GsonReader(text).document()
    if not isinstance(value, dict):
        raise Dropped(f"Gson: expected an object at the top, got {value!r}")
    for kind, checks in value.items():
        if checks is None:
            continue
        if not isinstance(checks, dict):
            raise Dropped(f"Gson: {kind} is not an object")
        for name, fields in checks.items():
            if fields is None:
                continue
            if not isinstance(fields, dict):
                raise Dropped(f"Gson: {kind}.{name} is not an object")
            for key, leaf in fields.items():
                if isinstance(leaf, (dict, list)):
                    raise Dropped(f"Gson: {kind}.{name}.{key} = {leaf!r} is not a string")
    return value


class GsonReader:
    """JsonReader in lenient mode, as Gson 1.7.2 uses it: quoted ('' or "") and unquoted names
    and strings, `:`, `=` or `=>` after a name, `,` or `;` between members, comments (`#`, `//`,
    `/* */`). Scalars stay as their text (a Map<String, String> reads 1 as "1"); null is None."""

    DELIMITERS = set("{}[]:,;=#/ \t\r\n\f\\")

    def __init__(self, text: str):
        self.text, self.at = text, 0

    def document(self):
        value = self.value()
        if self._peek() is not None:
            raise Dropped(f"Gson: text after the document at {self.at}")
        return value

    def value(self):
        char = self._peek()
        if char is None:
            raise Dropped("Gson: end of input where a value was expected")
        if char == "{":
            return self._object()
        if char == "[":
            return self._array()
        if char in "\"'":
            return self._quoted()
        literal = self._unquoted()
        return None if literal == "null" else literal

    def _object(self) -> dict:
        self.at += 1
        members: dict = {}
        if self._peek() == "}":
            self.at += 1
            return members
        while True:
            char = self._peek()
            name = self._quoted() if char in ("'", '"') else self._unquoted()
            separator = self._peek()
            if separator == ":":
                self.at += 1
            elif separator == "=":
                self.at += 2 if self.text.startswith("=>", self.at) else 1
            else:
                raise Dropped(f"Gson: expected ':' at {self.at}")
            members[name] = self.value()  # the last of duplicate names wins
            char = self._peek()
            self.at += 1
            if char == "}":
                return members
            if char not in (",", ";"):
                raise Dropped(f"Gson: unterminated object at {self.at}")

    def _array(self) -> list:
        self.at += 1
        items: list = []
        if self._peek() == "]":
            self.at += 1
            return items
        while True:
            items.append(self.value())
            char = self._peek()
            self.at += 1
            if char == "]":
                return items
            if char not in (",", ";"):
                raise Dropped(f"Gson: unterminated array at {self.at}")

    ESCAPES = {"b": "\b", "f": "\f", "n": "\n", "r": "\r", "t": "\t"}

    def _quoted(self) -> str:
        """A string in either quote; JsonReader's escapes (an unknown one is the character)."""
        quote, out = self.text[self.at], []
        self.at += 1
        while self.at < len(self.text):
            char = self.text[self.at]
            self.at += 1
            if char == quote:
                return "".join(out)
            if char != "\\":
                out.append(char)
                continue
            escaped = self.text[self.at:self.at + 1]
            self.at += 1
            if escaped == "u":
                digits = self.text[self.at:self.at + 4]
                if not re.fullmatch(r"[0-9A-Fa-f]{4}", digits):
                    raise Dropped(f"Gson: bad \\u escape {digits!r}")
                out.append(chr(int(digits, 16)))
                self.at += 4
            else:
                out.append(self.ESCAPES.get(escaped, escaped))
        raise Dropped("Gson: unterminated string")

    def _unquoted(self) -> str:
        start = self.at
        while self.at < len(self.text) and self.text[self.at] not in self.DELIMITERS:
            self.at += 1
        if self.at == start:
            raise Dropped(f"Gson: unexpected {self.text[start:start + 1]!r} at {start}")
        return self.text[start:self.at]

    def _peek(self) -> str | None:
        """The next character that is not blank or inside a comment (None at the end)."""
        while self.at < len(self.text):
            char = self.text[self.at]
            if char in " \t\r\n":
                self.at += 1
            elif char == "#" or self.text.startswith("//", self.at):
                newline = self.text.find("\n", self.at)
                self.at = len(self.text) if newline < 0 else newline + 1
            elif self.text.startswith("/*", self.at):
                close = self.text.find("*/", self.at + 2)
                if close < 0:
                    raise Dropped("Gson: unterminated comment")
                self.at = close + 2
            else:
                return char
        return None


# ---- filesystem check (contract 3.7) ---------------------------------------------------------

def filesystem_writable(answer: Answer) -> tuple[bool, str]:
    """filesystem.writable.test as the server records it: (passed, message)."""
    if answer.success:
        return True, "Successfully written to file system"
    if "Read-only file system" in answer.details:
        return False, "Read-only file system"
    if not java_trim(answer.details):
        return False, "No results available"
    return False, f"Failed to fetch results with details: {answer.details}"


# ---- diagnostics (contract 4.3, 5.1) ---------------------------------------------------------

def diagnostics(answer: Answer) -> dict:
    """DiagnosticsAnswer.getExecutionDetails: the API's stdout, stderr and exitcode."""
    if not answer.success or not answer.details:
        return {"stdout": "", "stderr": answer.details, "exitcode": "-1"}
    parts = java_split(answer.details, "&&")
    if len(parts) < 3:
        raise Dropped("CloudRuntimeException: Unsupported diagnostics command type supplied")
    return {"stdout": java_trim(parts[0]), "stderr": java_trim(parts[1]),
            "exitcode": java_trim(parts[2])}


def diagnostics_zip(answer: Answer) -> str:
    """PrepareFilesCommand: the zip path is the details with every newline removed."""
    if not answer.success:
        raise Dropped(f"Failed to generate diagnostics zip file: {answer.details!r}")
    return answer.details.replace("\n", "")
