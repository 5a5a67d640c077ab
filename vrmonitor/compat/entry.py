"""The process boundary of every CloudStack entry point script.

The management server parses these scripts' output with stderr merged in (contract 1), so on a
normal outcome they print only their answer. Warnings (an invalid vrmonitor.toml, an argument
that was ignored, a run that did not finish in time) go to vrmonitor's log,
/var/log/monitor.log, never to stderr. Whatever goes wrong inside becomes one line on stderr and
a non-zero exit, never a traceback and never a stray byte on stdout.
"""

import importlib
import logging
import os
import sys

from vrmonitor.paths import Paths

DEBUG_ENV = "VRMONITOR_DEBUG"


class _LogFile(logging.FileHandler):
    """Appends to the log; a log that cannot be opened or written (read-only, full, absent
    folder) is silently skipped, since logging's default would print the failure on stderr
    (and the delayed open happens outside logging's own error handling)."""

    def emit(self, record):
        try:
            super().emit(record)
        except OSError:
            pass

    def handleError(self, record):  # noqa: N802 (logging's name)
        pass


def log_to_file(paths: Paths, name: str) -> None:
    """Send this process's warnings (logging and the warnings module) to vrmonitor's log."""
    handler = _LogFile(paths.monitor_log, delay=True, encoding="utf-8", errors="replace")
    handler.setFormatter(logging.Formatter(
        f"%(asctime)s {name}[%(process)d]: %(levelname)s: %(message)s"))
    logger = logging.getLogger()
    logger.handlers[:] = [handler]
    logger.setLevel(logging.WARNING)
    logging.captureWarnings(True)


def call(module: str, name: str, argv: list[str], root: str) -> int:
    """Run <module>.main(argv, root) for the script called `name`.

    module: a module under vrmonitor.compat (`get_router_alerts`), or a full dotted name
    (`vrmonitor.checks.cpu_usage`)."""
    try:
        log_to_file(Paths.from_option(root), name)
        entry = importlib.import_module(module if "." in module else f"vrmonitor.compat.{module}")
        return entry.main(argv, root)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the boundary: logged once, as one line
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
