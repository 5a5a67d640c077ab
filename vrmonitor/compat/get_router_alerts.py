"""getRouterAlerts.sh [DATE TIME]: alerts newer than the management server's last timestamp.

stdout is exactly what the management server parses (contract 2.5): `No Alerts`, or one line of
entries each followed by the two characters backslash-n. A timestamp that is not one is logged
and answered with every alert, exit 0: stderr is merged into what the management server parses.

Most polls find nothing new. When this answers `No Alerts` to a timestamp, or answers with lines
after which the newest line's own timestamp would get `No Alerts`, it publishes that fact with
the identity of the files that decided it (quiet_files): the installed script answers such a
poll in sh while those files stay as they were, and calls this for everything else.
"""

import logging
import sys

from vrmonitor import __version__
from vrmonitor.alerts.feed import poll
from vrmonitor.alerts.store import AlertStore, decode_record, reverse_lines
from vrmonitor.cloudstack.alert_line import answer, parse_line, parse_threshold
from vrmonitor.health.answer import stat_identity
from vrmonitor.paths import Paths

NAME = "getRouterAlerts.sh"
LOG = logging.getLogger(__name__)
QUIET_MAGIC = f"vrmonitor-no-alerts-{__version__}"


def quiet_files(paths: Paths) -> list[str]:
    """The files that decide a `No Alerts` answer when the newest journal record and the newest
    log line are in the current (not rotated) files: the answers remembered, the journal, the log."""
    store = AlertStore(paths)
    return [str(store.polls_file), str(store.journal), str(store.log)]


def main(argv: list[str], root: str) -> int:
    threshold = None
    if len(argv) >= 2:
        threshold = parse_threshold(argv[0], argv[1])
        if threshold is None:
            LOG.warning("%r %r is not a 'YYYY-MM-DD HH:MM:SS' time; answering with all alerts",
                        argv[0], argv[1])
    elif argv:
        LOG.warning("expected DATE TIME, got one argument (%r); answering with all alerts",
                    argv[0])
    paths = Paths.from_option(root)
    store = AlertStore(paths)
    try:
        before = stat_identity(quiet_files(paths))
        lines = poll(store, threshold)
        quiet = None
        if not lines and threshold is not None and len(argv) == 2:
            quiet = f"{argv[0]} {argv[1]}"
        elif lines:
            # polls.json has just changed (the answer was remembered): the files as they are
            # now, before the next poll's answer is worked out, are what it will be made of.
            before = stat_identity(quiet_files(paths))
            quiet = _quiet_after(store, lines[-1])
    except OSError as exc:
        print(f"{NAME}: cannot read alerts: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(answer(lines).encode("utf-8", "surrogateescape"))
    sys.stdout.flush()
    if quiet is not None and before is not None:
        _publish_quiet(paths, store, quiet, before)
    return 0


def _quiet_after(store: AlertStore, newest: str) -> str | None:
    """The timestamp the management server will send after this answer, when that poll's
    answer is `No Alerts` (nothing was written since); else None."""
    parsed = parse_line(newest)
    if parsed is None or newest.split(",", 1)[0] != parsed.second:
        return None  # a line the server would read another timestamp from
    try:
        later = poll(store, parsed.second, remember=False)
    except OSError:
        return None
    return parsed.second if not later else None


def _publish_quiet(paths: Paths, store: AlertStore, quiet: str, before: str) -> None:
    """Publish that `quiet` gets `No Alerts` while the quiet_files are as `before` says, when
    the current journal and log decided it and nothing changed meanwhile; any failure only
    means the next such poll is answered here."""
    if "\n" in quiet or not _decided_by_current_files(store):
        return
    from vrmonitor.system.files import atomic_write
    from vrmonitor.system.locks import private_folder

    if stat_identity(quiet_files(paths)) != before:
        return
    try:
        private_folder(paths.run_dir)
        record = f"{QUIET_MAGIC} {quiet}|{before}\n".encode("utf-8", "surrogateescape")
        atomic_write(paths.quiet_alerts, record, mode=0o600)
    except OSError as exc:
        LOG.warning("%s not published: %s", paths.quiet_alerts, exc)


def _decided_by_current_files(store: AlertStore) -> bool:
    """The journal's newest record and the log's newest alert are in the current files: a poll
    that finds nothing newer stops there and reads no rotated file."""
    try:
        record = next((r for r in map(decode_record, reverse_lines(store.journal)) if r), None)
        line = next((raw for raw in reverse_lines(store.log)
                     if parse_line(raw.decode("utf-8", "surrogateescape"))), None)
    except OSError:
        return False
    return record is not None and line is not None
