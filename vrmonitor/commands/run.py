"""`vrmonitor run`: the daemon."""

from vrmonitor.commands import not_implemented


def add_arguments(parser):
    parser.add_argument("--foreground", action="store_true",
                        help="stay in the foreground (no detaching, no pidfile)")
    parser.add_argument("--status-every", type=float, default=0.0, metavar="SECONDS",
                        help="print one line on what it sees every SECONDS (default: never)")


def run(args, context) -> int:
    from vrmonitor.config.settings import load_settings
    from vrmonitor.daemon import Daemon

    if args.status_every < 0:
        raise SystemExit("vrmonitor run: --status-every must not be negative")
    settings = load_settings(context.config_file)
    if not args.foreground:
        return not_implemented("run without --foreground (detaching)")
    return Daemon(context.paths, settings, status_every=args.status_every).run()
