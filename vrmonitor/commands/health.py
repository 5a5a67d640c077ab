"""`vrmonitor health`: run the health checks now, or show their last results."""

from vrmonitor.commands import not_implemented


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    run_parser = actions.add_parser("run", help="run checks and write the result files")
    run_parser.add_argument("kind", nargs="?", choices=("basic", "advanced"),
                            help="default: basic then advanced")


def run(args, context) -> int:
    return not_implemented("health")
