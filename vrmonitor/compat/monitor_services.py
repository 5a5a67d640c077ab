"""/root/monitorServices.py [basic|advanced]: the run CloudStack's cron job starts.

Contract 3.4's command line: one argument `basic` or `advanced` runs that kind; none (or more
than one) runs basic then advanced; any other single argument is an error (exit 2). When the
daemon runs and keeps that kind's schedule, the run is the daemon's: nothing is run twice.
Otherwise the run happens here, under the same lock as the daemon's. Nothing on stdout.
"""

import sys

NAME = "monitorServices.py"
KINDS = ("basic", "advanced")


def main(argv: list[str], root: str) -> int:
    from vrmonitor.health.handoff import handed_to_daemon
    from vrmonitor.locations import chosen_root

    if len(argv) == 1 and argv[0] not in KINDS:
        print(f"{NAME}: unknown argument {argv[0]!r}: expected basic or advanced", file=sys.stderr)
        return 2
    kinds = (argv[0],) if len(argv) == 1 else KINDS
    mine = tuple(kind for kind in kinds if not handed_to_daemon(chosen_root(root), kind))
    if not mine:  # the daemon's: no settings to read, no engine to build, no logging
        return 0
    from vrmonitor.health.entry import engine_for, run_kinds
    from vrmonitor.paths import Paths

    problems = run_kinds(engine_for(Paths.from_option(root)), mine)
    for problem in problems:  # cron mails what a failed run says; the server never runs this
        print(f"{NAME}: {problem}", file=sys.stderr)
    return 1 if problems else 0
