"""getRouterMonitorResults.sh [true|false] [basic|advanced]: the health results the MS fetches.

`true` runs the checks first (joining a run in progress) and completes before printing. stdout
is contract 3.6's structure, with the result files printed verbatim (the reference's
`echo $(cat ...)` collapsed whitespace inside messages).
"""

import logging
import sys
import time

from vrmonitor.cloudstack.health_results import failing_in
from vrmonitor.paths import Paths

NAME = "getRouterMonitorResults.sh"
LOG = logging.getLogger(__name__)
KINDS = ("basic", "advanced")
# A run's two renames are microseconds apart; 20 x 10 ms covers a writer descheduled between them.
SETTLE_ATTEMPTS = 20
SETTLE_PAUSE = 0.01


def fetch_output(paths: Paths) -> str:
    read = {kind: consistent_pair(paths, kind) for kind in KINDS}
    lines = ["FAILING CHECKS:"]
    for kind in KINDS:
        failing = read[kind][0]
        if failing is not None:
            lines.append(failing.rstrip("\n"))
    lines.append("MONITOR RESULTS:")
    for prefix, kind in (('{"basic":', "basic"), (',"advanced":', "advanced")):
        lines.append(prefix)
        document = read[kind][1]
        lines.append(document.rstrip("\n") if document else "{}")
    lines.append("}")
    return "\n".join(lines) + "\n"


def consistent_pair(paths: Paths, kind: str) -> tuple[str | None, str | None]:
    """(failing file, results file) of the same run of `kind`, each None when absent.

    A run renames its results file and then its failing file: a reader between the two renames
    would pair one run's failing list with the next run's results. The pair is read again until
    the failing file names what the results say fails; should that not settle (a writer that
    died between the renames), the failing list is taken from the results.
    """
    for _ in range(SETTLE_ATTEMPTS):
        document = _read(paths.results_file(kind))
        failing = _read(paths.failing_file(kind))
        expected = failing_in(document) if document else None
        if expected is None or _names(failing) == set(expected):
            return failing, document
        time.sleep(SETTLE_PAUSE)
    return (",".join(expected) if expected else None), document


def _names(failing: str | None) -> set[str]:
    return {name.strip() for name in (failing or "").split(",") if name.strip()}


def main(argv: list[str], root: str) -> int:
    from vrmonitor.health.entry import engine_for, run_kinds

    paths = Paths.from_option(root)
    kinds: tuple[str, ...] = KINDS
    if len(argv) > 1:
        if argv[1] in KINDS:
            kinds = (argv[1],)
        else:
            LOG.warning("unknown kind %r (expected basic or advanced); using both", argv[1])
    if argv and argv[0] == "true":
        # A fresh run that could not finish in time is logged, and the exit stays 0: to the
        # management server a non-zero exit is a failed command and drops the whole answer
        # (contract 1), while the last results, with their own lastRun, are still worth showing.
        run_kinds(engine_for(paths), kinds)
    sys.stdout.write(fetch_output(paths))
    return 0


def _read(path) -> str | None:
    try:
        return path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return None
