"""`vrmonitor alerts`: the alert feed, as the management server or a JSON consumer reads it."""

from vrmonitor.commands import not_implemented

HELP = "print alerts from routerServiceMonitor.log, oldest first"


def add_arguments(parser):
    parser.add_argument("--since", metavar="'YYYY-MM-DD HH:MM:SS'",
                        help="only alerts logged after this local time")
    parser.add_argument("--after", metavar="SEQ", type=int,
                        help="only alerts with a sequence number greater than SEQ")
    parser.add_argument("--format", choices=("cloudstack", "json"), default="cloudstack",
                        help="cloudstack: what getRouterAlerts.sh prints; json: one object a line")


def run(args, context) -> int:
    return not_implemented("alerts")
