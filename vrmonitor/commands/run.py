"""`vrmonitor run`: the daemon."""


def add_arguments(parser):
    parser.add_argument("--foreground", action="store_true",
                        help="stay in the foreground (no detaching, no pidfile)")
    parser.add_argument("--status-every", type=float, default=0.0, metavar="SECONDS",
                        help="print one line on what it sees every SECONDS (default: never)")


def run(args, context) -> int:
    from vrmonitor.config.settings import load_settings
    from vrmonitor.daemon.composition import Daemon

    if args.status_every < 0:
        raise SystemExit("vrmonitor run: --status-every must not be negative")
    settings = load_settings(context.config_file)
    daemon = Daemon(context.paths, settings, config_file=context.config_file,
                    status_every=args.status_every)
    if args.foreground:
        from vrmonitor.system.journal import log_to_journal, stderr_is_journal

        if stderr_is_journal() and not args.verbose:
            log_to_journal()  # under systemd: INFO and up, each with its priority
        return daemon.run()
    return _detached(daemon, context.paths)


def _detached(daemon, paths) -> int:
    """SysV: detach, log to /var/log/monitor.log, hold /run/vrmonitor/vrmonitor.pid."""
    import logging

    from vrmonitor.system.detach import check_not_running, daemon_context

    check_not_running(paths.pidfile)
    daemon.out = None  # no terminal once detached
    with daemon_context(paths.pidfile):
        paths.monitor_log.parent.mkdir(parents=True, exist_ok=True)
        handler = logging.FileHandler(paths.monitor_log)
        handler.setFormatter(logging.Formatter("%(asctime)s vrmonitor[%(process)d]: %(levelname)s: %(message)s"))
        root = logging.getLogger()
        root.handlers[:] = [handler]
        root.setLevel(logging.INFO)
        return daemon.run()
