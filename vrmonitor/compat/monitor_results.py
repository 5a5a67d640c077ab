"""getRouterMonitorResults.sh [true|false] [basic|advanced]: the health results the MS fetches.

`true` runs the checks first (joining a run in progress) and completes before printing. stdout
is contract 3.6's structure, with the result files printed verbatim (the reference's
`echo $(cat ...)` collapsed whitespace inside messages). Without `true` the answer is the one
every health run publishes (vrmonitor.health.answer), when the files are still the ones it was
made of; the installed script serves that case in sh and calls this only for the others.
"""

import logging
import sys

from vrmonitor.health.answer import compose, current
from vrmonitor.paths import Paths

NAME = "getRouterMonitorResults.sh"
LOG = logging.getLogger(__name__)
KINDS = ("basic", "advanced")

# The answer composed from the files, whatever is published (kept under its former name).
fetch_output = compose


def main(argv: list[str], root: str) -> int:
    paths = Paths.from_option(root)
    kinds: tuple[str, ...] = KINDS
    if len(argv) > 1:
        if argv[1] in KINDS:
            kinds = (argv[1],)
        else:
            LOG.warning("unknown kind %r (expected basic or advanced); using both", argv[1])
    if argv and argv[0] == "true":
        from vrmonitor.health.entry import engine_for, run_kinds

        # A fresh run that could not finish in time is logged, and the exit stays 0: to the
        # management server a non-zero exit is a failed command and drops the whole answer
        # (contract 1), while the last results, with their own lastRun, are still worth showing.
        run_kinds(engine_for(paths), kinds)
    sys.stdout.flush()
    sys.stdout.buffer.write(current(paths).encode("utf-8"))
    return 0
