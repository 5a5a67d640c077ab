"""`vrmonitor run`: the daemon."""

from vrmonitor.commands import not_implemented

HELP = "run the monitoring daemon"


def add_arguments(parser):
    parser.add_argument("--foreground", action="store_true",
                        help="stay in the foreground (no detaching, no pidfile)")


def run(args, context) -> int:
    return not_implemented("run")
