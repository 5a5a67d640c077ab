"""The result files of a health run, as the management server reads them (contract 3.4, A9).

`<kind>_monitor_results.json` is one line of JSON (json.dump defaults, ensure_ascii=False, no
trailing newline) mapping each check name to an entry whose every value is a string, plus
`lastRun`. `<kind>_failing_health_checks` lists the failing names joined by "," and exists only
when something fails. The management server parses `lastUpdate` with Long.parseLong (a float
there makes it skip the entry) and `lastRunDuration` with Double.parseDouble.
"""

import json
import os
from datetime import datetime
from pathlib import Path
from typing import Iterable, Protocol

from vrmonitor.cloudstack.utf8 import escaped
from vrmonitor.system.files import atomic_write, fsync_dir



class CheckResult(Protocol):
    """The fields of one check's result that the format reads (health.runner.CheckResult has
    them): a format below the health engine names no type of the engine's."""

    @property
    def name(self) -> str: ...

    @property
    def status(self) -> str: ...

    @property
    def message(self) -> str: ...

    @property
    def started(self) -> float: ...

    @property
    def duration_ms(self) -> float: ...

# The runner's statuses (vrmonitor.health.runner.STATUSES).
PASS, FAIL, WARNING, UNKNOWN, SKIP = "pass", "fail", "warning", "unknown", "skip"

# `success` values per status_format (contract 3.9): classic MS parse Boolean.parseBoolean;
# the 4.22 lineage parses RouterHealthStatus.valueOf.
_SUCCESS = {
    "legacy": {PASS: "true", FAIL: "false", WARNING: "false", UNKNOWN: "false"},
    "enum": {PASS: "SUCCESS", FAIL: "FAILED", WARNING: "WARNING", UNKNOWN: "UNKNOWN"},
}


def check_entry(result: CheckResult, status_format: str) -> dict[str, str]:
    """The entry of one check result; status_format is "legacy" or "enum" (else legacy).

    A "skip" result has no entry: passing one is a programming error (ValueError).
    """
    if result.status == SKIP:
        raise ValueError(f"{result.name}: a skipped check has no entry")
    vocabulary = _SUCCESS.get(status_format, _SUCCESS["legacy"])
    return {
        "success": vocabulary[result.status],
        "lastUpdate": str(int(result.started * 1000)),
        "lastRunDuration": str(float(result.duration_ms)),
        "message": result.message,
    }


def check_entries(results: Iterable[CheckResult], status_format: str) -> dict[str, dict[str, str]]:
    """The entries of `results` keyed by check name, in order, skipped checks left out."""
    return {result.name: check_entry(result, status_format)
            for result in results if result.status != SKIP}


def failing_names(results: Iterable[CheckResult]) -> list[str]:
    """Names of the checks that did not pass (fail, warning, unknown), in order; skips excluded."""
    return [result.name for result in results if result.status not in (PASS, SKIP)]


def failing_in(document: str) -> list[str] | None:
    """The names a results document records as not passing, in its order; None when the
    document is not a results file (not JSON, not an object of entries)."""
    try:
        entries = json.loads(document)
    except (ValueError, RecursionError):
        return None
    if not isinstance(entries, dict):
        return None
    passing = {vocabulary[PASS] for vocabulary in _SUCCESS.values()}
    return [name for name, entry in entries.items()
            if name != "lastRun" and isinstance(entry, dict) and entry.get("success") not in passing]


def last_run(start: float, end: float, duration: float | None = None) -> dict[str, str]:
    """The `lastRun` entry: local times as Python's str(datetime) prints them, duration in seconds.

    `duration` is measured on the monotonic clock when given: a wall clock stepped during the
    run moves `end`, not how long the run took."""
    return {
        "start": str(datetime.fromtimestamp(start)),
        "end": str(datetime.fromtimestamp(end)),
        "duration": str(float(end - start if duration is None else duration)),
    }


# The server's parser switches mode on any line containing one of these phrases, even inside a
# JSON string (contract 3.6): a check that printed one would lose every result of the router.
# One letter of each is written as a JSON escape, which reads back as the same letter.
MODE_PHRASES = {"FAILING CHECKS": "\\u0046AILING CHECKS",
                 "MONITOR RESULTS": "\\u004dONITOR RESULTS"}


def render(entries: dict) -> str:
    """The results document: one line, default separators, non-ASCII kept, no trailing newline.

    Control characters in messages are escaped by JSON, so the line stays one line, and the
    server's two mode phrases are escaped (MODE_PHRASES). A byte that was not UTF-8 (discovery
    refuses such names; this is the backstop) is written as the text `\\xNN`, so the file
    stays UTF-8 instead of the write failing for every entry.
    """
    return shield(escaped(json.dumps(entries, ensure_ascii=False), backslash="\\\\"))


def shield(document: str) -> str:
    """`document` (JSON as json.dumps writes it) with the mode phrases escaped.

    Outside strings JSON has no letters but those of true, false and null, so every phrase is
    inside a string, and json.dumps writes the hex of its own escapes in lower case, so no
    capital F or M is part of one: the replacement is an escape of the same letter."""
    for phrase, replacement in MODE_PHRASES.items():
        document = document.replace(phrase, replacement)
    return document


def write_results(results_file: Path, failing_file: Path, document: str,
                  failing: list[str]) -> None:
    """Write the results file and the failing-checks file atomically (contract 3.4 steps 5, 6).

    With nothing failing, the failing-checks file is removed when present.
    """
    atomic_write(results_file, document)
    if failing:
        atomic_write(failing_file, escaped(",".join(failing)))
        return
    try:
        os.unlink(failing_file)
    except FileNotFoundError:
        return
    fsync_dir(Path(failing_file).parent)
