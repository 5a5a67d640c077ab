"""Reading alerts back: the management server's poll, and the JSON feed.

The poll (getRouterAlerts.sh DATE TIME) keeps the wire format and removes the reference's losses.
The management server sends back the newest timestamp it received, to the second, and the
reference answered "lines stamped strictly later". That loses alerts logged later in that same
second, and alerts stamped earlier after the wall clock stepped back.

The fix: each answer records which journal entry its newest line was (by seq and the journal's
epoch), keyed by the timestamp the management server will send back. A poll with a known
timestamp gets exactly the journal entries after that one, whatever their stamps. An unknown
timestamp (the first poll, lines from an older monitor) falls back to the reference's rule, read
robustly: lines that are not alerts are skipped instead of ending the scan, and the rotated
files are read too. So does a known timestamp whose entry the journal no longer holds (emptied
or replaced: another epoch, or seqs that went backwards), so new alerts are still delivered. A
line with bytes that are not UTF-8 is an alert like any other and is answered byte for byte.

Work is proportional to the answer: files are read backwards and the scan stops at the first
line that is not newer.
"""

import json
import logging

from vrmonitor.alerts.store import AlertStore, decode_record, reverse_lines
from vrmonitor.cloudstack.alert_line import parse_line
from vrmonitor.system import state_file as sf
from vrmonitor.system.files import atomic_write

LOG = logging.getLogger(__name__)

# Answers remembered: enough for several management servers and a few lost answers.
REMEMBERED_POLLS = 32

# polls.json: {second: {"seq": N, "epoch": id or null}}; a bare N is from before epochs.
POLLS = sf.table(sf.either(sf.integer(1), sf.record(required=("seq",), seq=sf.integer(1),
                                                    epoch=sf.nullable(sf.text))))


def legacy_lines(store: AlertStore, threshold: str | None = None) -> list[str]:
    """Log lines stamped after `threshold` (`YYYY-MM-DD HH:MM:SS`; None: all), oldest first."""
    newer: list[str] = []
    for path in store.log_generations():
        for raw in reverse_lines(path):
            if not raw:
                continue  # the empty line after each alert
            line = _text(raw)
            parsed = parse_line(line)
            if parsed is None:
                continue  # not an alert (alert_line.STAMP): skipped, never the end of the scan
            if threshold is not None and parsed.second <= threshold:
                newer.reverse()
                return newer
            newer.append(line)
    newer.reverse()
    return newer


def poll(store: AlertStore, threshold: str | None, remember: bool = True) -> list[str]:
    """The lines getRouterAlerts.sh answers for `threshold`, oldest first.

    remember: record this answer for the next poll (the management server's own calls);
    `vrmonitor alerts` shows the same answer without recording it.
    """
    with store.locked(exclusive=remember):
        polls = _read_polls(store)
        lines = None
        if threshold is not None and threshold in polls:
            seq, epoch = polls[threshold]
            records = store.records_after(seq, anchor=lambda record: (
                record.get("epoch") == epoch and _second(record["line"]) == threshold))
            if records is not None:  # else the journal lost that answer: by time, below
                lines = [record["line"] for record in records]
        known = lines is not None  # the caller continues an answer: the management server
        if lines is None:
            lines = legacy_lines(store, threshold)
        if remember and lines:
            _remember(store, polls, lines[-1], replace=known)
    return lines


def json_feed(store: AlertStore, after: int | None = None, since: str | None = None) -> list[dict]:
    """Alerts as JSON objects, oldest first.

    With `after`: journal entries with a larger seq (loss-free, clock-proof). Otherwise every
    log line (after `since`), with the journal's fields when vrmonitor wrote it, else seq null.
    """
    with store.locked(exclusive=False):
        if after is not None:
            records = store.records_after(after)
            if records is None:  # the journal has rotated past `after`: all it still has
                records = store.all_records()
            return [r for r in records if since is None or _second(r["line"]) > since]
        lines = legacy_lines(store, since)
        known: dict[str, list[dict]] = {}
        for record in store.all_records():
            known.setdefault(record["line"], []).append(record)
    feed = []
    for line in lines:
        matches = known.get(line)
        if matches:
            feed.append(matches.pop(0))
            continue
        parsed = parse_line(line)
        assert parsed is not None  # legacy_lines() returns alert lines only
        feed.append({"seq": None, "time": parsed.local_time(), "boot_id": None,
                     "severity": _readable(parsed.severity), "name": _readable(parsed.name),
                     "message": _readable(parsed.message), "line": _readable(line)})
    return feed


def _remember(store: AlertStore, polls: dict[str, tuple], newest_line: str, replace: bool) -> None:
    """Record the answer under its newest second. An answer to an unknown timestamp (a first
    poll, a manual call) never replaces a record: the management server may hold that second
    with an older seq, and moving it on would hide the alerts in between from its next poll."""
    second = _second(newest_line)
    if second in polls and not replace:
        return
    record = _record_of(store, newest_line)
    if record is None:
        return  # a line vrmonitor did not write: the next poll uses the timestamp rule
    polls.pop(second, None)
    polls[second] = (record["seq"], record.get("epoch"))
    kept = {second: {"seq": seq, "epoch": epoch}
            for second, (seq, epoch) in list(polls.items())[-REMEMBERED_POLLS:]}
    atomic_write(store.polls_file, json.dumps(kept, indent=0) + "\n")


def _record_of(store: AlertStore, line: str) -> dict | None:
    """The newest journal entry with exactly this line (searching from the end).

    The search stops at entries stamped before the line: a line from another writer costs
    no more than the entries written since.
    """
    second = _second(line)
    for path in store.journal_generations():
        for raw in reverse_lines(path):
            record = decode_record(raw)
            if record is None:
                continue
            if record["line"] == line:
                return record
            if _second(record["line"]) < second:
                return None
    return None


def _read_polls(store: AlertStore) -> dict[str, tuple[int, str | None]]:
    """{second: (seq, epoch)}; {} when absent or damaged (then set aside: every poll is
    answered by time until answers are remembered again)."""
    polls = sf.load(store.polls_file, POLLS) or {}
    return {second: (answer, None) if isinstance(answer, int) else (answer["seq"], answer.get("epoch"))
            for second, answer in polls.items()}


def _second(line: str) -> str:
    parsed = parse_line(line)
    return parsed.second if parsed else ""


def _text(raw: bytes) -> str:
    """A log line as text; bytes that are not UTF-8 are kept (surrogateescape), so the answer
    can give them back as they were."""
    return raw.decode("utf-8", "surrogateescape")


def _readable(text: str | None) -> str | None:
    """Text for JSON: bytes that were not UTF-8 become U+FFFD, as the server's Java decoding
    shows them."""
    if text is None:
        return None
    return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")
