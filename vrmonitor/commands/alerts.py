"""`vrmonitor alerts`: the alert feed, as the management server or a JSON consumer reads it."""

import sys


def add_arguments(parser):
    parser.add_argument("--since", metavar="'YYYY-MM-DD HH:MM:SS'",
                        help="only alerts logged after this local time")
    parser.add_argument("--after", metavar="SEQ", type=int,
                        help="only alerts with a sequence number greater than SEQ")
    parser.add_argument("--format", choices=("cloudstack", "json"), default="cloudstack",
                        help="cloudstack: what getRouterAlerts.sh prints; json: one object a line")


def run(args, context) -> int:
    import json

    from vrmonitor.alerts.feed import json_feed, poll
    from vrmonitor.alerts.store import AlertStore
    from vrmonitor.cloudstack.alert_line import answer, parse_threshold

    since = None
    if args.since is not None:
        date, _, time = args.since.partition(" ")
        since = parse_threshold(date, time)
        if since is None:
            print(f"vrmonitor alerts: --since {args.since!r} is not 'YYYY-MM-DD HH:MM:SS'",
                  file=sys.stderr)
            return 2
    store = AlertStore(context.paths)
    if args.format == "json" or args.after is not None:
        feed = json_feed(store, after=args.after, since=since)
        if args.format == "json":
            for alert in feed:
                print(json.dumps(alert, ensure_ascii=False))
        else:
            _write(answer([alert["line"] for alert in feed]))
        return 0
    _write(answer(poll(store, since, remember=False)))
    return 0


def _write(text: str) -> None:
    """The answer as getRouterAlerts.sh gives it: bytes that were not UTF-8 given back as read."""
    sys.stdout.flush()
    sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
