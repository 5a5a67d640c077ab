"""The process boundary of every CloudStack entry point script.

The management server parses these scripts' stdout, so whatever goes wrong inside becomes one
line on stderr and a non-zero exit, never a traceback and never a stray byte on stdout.
"""

import importlib
import os
import sys

DEBUG_ENV = "VRMONITOR_DEBUG"


def call(module: str, name: str, argv: list[str], root: str) -> int:
    """Run <module>.main(argv, root) for the script called `name`.

    module: a module under vrmonitor.cloudstack (`get_router_alerts`), or a full dotted name
    (`vrmonitor.checks.cpu_usage`)."""
    try:
        entry = importlib.import_module(module if "." in module else f"vrmonitor.cloudstack.{module}")
        return entry.main(argv, root)
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the boundary: logged once, as one line
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"{name}: internal error: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 1
