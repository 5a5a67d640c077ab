"""The `vrmonitor` command line: global options, subcommands, documented exit codes.

Exit codes: 0 success; 1 something failed or is failing; 2 usage or configuration error;
3 (status) the daemon is not running. Every error is one line on stderr, never a traceback.
"""

import argparse
import importlib
import os
import sys

from vrmonitor import ROOT_ENV, __version__
from vrmonitor.commands import COMMANDS

# logging, pathlib and dataclasses are imported after parsing, so --version stays fast.

EXIT_USAGE = 2
DEBUG_ENV = "VRMONITOR_DEBUG"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vrmonitor", description=(
        "Service monitor, health checks and diagnostics for CloudStack system VMs."))
    parser.add_argument("--version", action="version", version=f"vrmonitor {__version__}")
    parser.add_argument("--root", metavar="DIR", help=(
        f"resolve every file path under DIR (environment {ROOT_ENV}; default /)"))
    parser.add_argument("--config", metavar="FILE", help=(
        "vrmonitor's configuration (default <root>/etc/vrmonitor/vrmonitor.toml)"))
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.required = True
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        sub = commands.add_parser(name, help=module.HELP, description=module.HELP)
        module.add_arguments(sub)
        sub.set_defaults(handler=module.run)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    import logging

    from vrmonitor.commands.context import Context
    from vrmonitor.errors import ConfigError, VrMonitorError
    from vrmonitor.paths import Paths

    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                        format="vrmonitor: %(levelname)s: %(message)s", stream=sys.stderr)
    paths = Paths.from_option(args.root)
    context = Context(paths=paths, config_file=args.config or str(paths.config_file))
    try:
        return args.handler(args, context)
    except ConfigError as exc:
        for problem in exc.problems or [str(exc)]:
            print(problem, file=sys.stderr)
        return EXIT_USAGE
    except VrMonitorError as exc:
        print(f"vrmonitor: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the process boundary: one line, the trace only on request
        if os.environ.get(DEBUG_ENV):
            raise
        print(f"vrmonitor: internal error: {type(exc).__name__}: {exc} "
              f"(set {DEBUG_ENV}=1 for a traceback)", file=sys.stderr)
        return 1
