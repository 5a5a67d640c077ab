"""`vrmonitor compat install [--root DIR]`: place the CloudStack entry points under a root."""

import sys


def add_arguments(parser):
    actions = parser.add_subparsers(dest="action", metavar="ACTION")
    actions.required = True
    install = actions.add_parser(
        "install", help="write the entry points under DIR (default: the global --root, else /)")
    # Its own dest: a subparser's defaults would overwrite the global --root otherwise.
    install.add_argument("--root", dest="install_root", metavar="DIR",
                         help="the same as the global --root (pinned form of interface.md §2)")


def run(args, context) -> int:
    from vrmonitor.compat.install import install
    from vrmonitor.paths import Paths

    paths = context.paths
    if args.install_root is not None:
        given = Paths.from_option(args.install_root)
        if args.root is not None and Paths.from_option(args.root) != given:
            print(f"vrmonitor compat install: --root {args.install_root} differs from the global "
                  f"--root {args.root}; give one", file=sys.stderr)
            return 2
        paths = given
    for path in install(paths):
        print(path)
    return 0
