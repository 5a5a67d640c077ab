"""`vrmonitor status`: services, last health runs and the daemon itself."""

from vrmonitor.commands import not_implemented


def add_arguments(parser):
    parser.add_argument("--json", action="store_true", help="print one JSON document")


def run(args, context) -> int:
    return not_implemented("status")
