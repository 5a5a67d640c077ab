"""The process boundary of every CloudStack entry point script.

The management server parses these scripts' output with stderr merged in (contract 1), so on a
normal outcome they print only their answer. Warnings (an invalid vrmonitor.toml, an argument
that was ignored, a run that did not finish in time) go to vrmonitor's log,
/var/log/monitor.log, never to stderr. Whatever goes wrong inside becomes one line on stderr and
a non-zero exit, never a traceback and never a stray byte on stdout.

Logging is set up only once something imports it (system/lazy_logging.py): the normal paths of
the entry points called every few minutes log nothing, and its import would double their cost.
"""

import importlib
import os
import sys
import warnings

from vrmonitor.locations import MONITOR_LOG, chosen_root, under
from vrmonitor.system.lazy_logging import configure_when_imported

DEBUG_ENV = "VRMONITOR_DEBUG"


def log_to_file(root: str, name: str) -> None:
    """Send this process's warnings (logging and the warnings module) to vrmonitor's log, from
    the moment logging is imported or a warning is issued."""
    log = under(chosen_root(root), MONITOR_LOG)

    def configure(logging):
        from vrmonitor.system.log_file import LogFile

        handler = LogFile(log, delay=True, encoding="utf-8", errors="replace")
        handler.setFormatter(logging.Formatter(
            f"%(asctime)s {name}[%(process)d]: %(levelname)s: %(message)s"))
        logger = logging.getLogger()
        logger.handlers[:] = [handler]
        logger.setLevel(logging.WARNING)
        logging.captureWarnings(True)

    def first_warning(*args, **kwargs):
        import logging  # noqa: F401  (configure() runs: warnings.showwarning is logging's now)

        warnings.showwarning(*args, **kwargs)

    if "logging" not in sys.modules:  # a fresh logging's captureWarnings() replaces this
        warnings.showwarning = first_warning
    configure_when_imported(configure)


def call(module: str, name: str, argv: list[str], root: str) -> int:
    """Run <module>.main(argv, root) for the script called `name`.

    module: a module under vrmonitor.compat (`get_router_alerts`), or a full dotted name
    (`vrmonitor.checks.cpu_usage`)."""
    try:
        log_to_file(root, name)
        entry = importlib.import_module(module if "." in module else f"vrmonitor.compat.{module}")
        return entry.main(argv, root)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the boundary: logged once, as one line
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
