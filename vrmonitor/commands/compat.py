"""`vrmonitor compat install`: place the CloudStack entry points under a root."""


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    actions.add_parser("install", help="write the entry points under --root (default /)")


def run(args, context) -> int:
    from vrmonitor.cloudstack.install import install

    for path in install(context.paths):
        print(path)
    return 0
