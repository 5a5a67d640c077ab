"""getRouterAlerts.sh [DATE TIME]: alerts newer than the management server's last timestamp.

stdout is exactly what the management server parses (contract 2.5): `No Alerts`, or one line of
entries each followed by the two characters backslash-n. Everything else goes to stderr.
"""

import sys

from vrmonitor.alerts.feed import poll
from vrmonitor.alerts.store import AlertStore
from vrmonitor.cloudstack.alert_line import answer, parse_threshold
from vrmonitor.paths import Paths

NAME = "getRouterAlerts.sh"


def main(argv: list[str], root: str) -> int:
    threshold = None
    if len(argv) >= 2:
        threshold = parse_threshold(argv[0], argv[1])
        if threshold is None:
            print(f"{NAME}: {argv[0]} {argv[1]!s} is not a 'YYYY-MM-DD HH:MM:SS' time; "
                  "answering with all alerts", file=sys.stderr)
    elif argv:
        print(f"{NAME}: expected DATE TIME, got one argument; answering with all alerts",
              file=sys.stderr)
    try:
        lines = poll(AlertStore(Paths.from_option(root)), threshold)
    except OSError as exc:
        print(f"{NAME}: cannot read alerts: {exc}", file=sys.stderr)
        return 1
    sys.stdout.write(answer(lines))
    return 0
