"""`vrmonitor status`: services, last health runs and the daemon itself."""

from vrmonitor.commands import not_implemented

HELP = "show services, last health runs and the daemon (exit 0 well, 1 failing, 3 not running)"


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args, context) -> int:
    return not_implemented("status")
