"""getRouterAlerts.sh [DATE TIME]: alerts newer than the management server's last timestamp.

stdout is exactly what the management server parses (contract 2.5): `No Alerts`, or one line of
entries each followed by the two characters backslash-n. A timestamp that is not one is logged
and answered with every alert, exit 0: stderr is merged into what the management server parses.
"""

import logging
import sys

from vrmonitor.alerts.feed import poll
from vrmonitor.alerts.store import AlertStore
from vrmonitor.cloudstack.alert_line import answer, parse_threshold
from vrmonitor.paths import Paths

NAME = "getRouterAlerts.sh"
LOG = logging.getLogger(__name__)


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
    try:
        lines = poll(AlertStore(Paths.from_option(root)), threshold)
    except OSError as exc:
        print(f"{NAME}: cannot read alerts: {exc}", file=sys.stderr)
        return 1
    sys.stdout.buffer.write(answer(lines).encode("utf-8", "surrogateescape"))
    return 0
