"""The `vrmonitor` command line: global options, subcommands, documented exit codes.

Exit codes: 0 success; 1 something failed or is failing; 2 usage or configuration error;
3 (status) the daemon is not running. Every error is one line on stderr, never a traceback.
"""

import importlib
import os
import sys

from vrmonitor import ROOT_ENV, __version__
from vrmonitor.commands import COMMANDS

# argparse is imported once there is more to parse than `--version`, so that `--version` costs
# little more than the interpreter's start; logging is configured once something imports it,
# and pathlib and dataclasses come with the command that needs them (`status` does not).
VERSION = f"vrmonitor {__version__}"

EXIT_USAGE = 2
DEBUG_ENV = "VRMONITOR_DEBUG"


def _formatter(prog: str):
    """argparse's formatter, told the width so that it does not import shutil to learn it."""
    import argparse

    try:
        columns = int(os.environ.get("COLUMNS", "")) or os.get_terminal_size(
            sys.__stdout__.fileno()).columns  # type: ignore[union-attr]  # None: AttributeError, caught
    except (ValueError, OSError, AttributeError):
        columns = 80
    return argparse.RawDescriptionHelpFormatter(prog, width=max(columns - 2, 40))


def build_parser():
    """The global parser (argparse); the command's own arguments are parsed by command_parser()."""
    import argparse

    listing = "\n".join(f"  {name:<16}{summary}" for name, (_, summary) in COMMANDS.items())
    parser = argparse.ArgumentParser(
        prog="vrmonitor", formatter_class=_formatter,
        description="Service monitor, health checks and diagnostics for CloudStack system VMs.",
        epilog=f"commands:\n{listing}\n\n'vrmonitor COMMAND --help' describes a command.")
    parser.add_argument("--version", action="version", version=VERSION)
    parser.add_argument("--root", metavar="DIR", help=(
        f"resolve every file path under DIR (environment {ROOT_ENV}; default /)"))
    parser.add_argument("--config", metavar="FILE", help=(
        "vrmonitor's configuration (default <root>/etc/vrmonitor/vrmonitor.toml)"))
    parser.add_argument("-v", "--verbose", action="store_true", help="log debug messages to stderr")
    parser.add_argument("command", metavar="COMMAND", choices=list(COMMANDS),
                        help="one of the commands below")
    rest = parser.add_argument("arguments", nargs=argparse.REMAINDER, help=argparse.SUPPRESS)
    rest.required = False  # the command's own parser decides what it needs
    return parser


def command_parser(name: str):
    """The parser of one command, and its module. Only this command's module is imported:
    building every command's parser would cost more than the rest of the start-up."""
    import argparse

    module_name, summary = COMMANDS[name]
    module = importlib.import_module(module_name)
    parser = argparse.ArgumentParser(prog=f"vrmonitor {name}", description=summary,
                                     formatter_class=_formatter)
    module.add_arguments(parser)
    return parser, module


def parse(argv: list[str]):
    """The parsed command line (argparse's namespace) and the command's module."""
    plain = status_line(argv)
    if plain is not None:
        return plain, importlib.import_module(COMMANDS["status"][0])
    options = build_parser().parse_args(argv)
    parser, module = command_parser(options.command)
    return parser.parse_args(options.arguments, namespace=options), module


def status_line(argv: list[str]):
    """For `[--root DIR] status [--json]` alone, the namespace argparse would give (tested
    equal), else None. `vrmonitor status` is what monitoring scripts poll, and argparse's import
    would be a third of its cost."""
    root = None
    if len(argv) >= 2 and argv[0] == "--root" and not argv[1].startswith("-"):
        root, argv = argv[1], argv[2:]
    if argv not in (["status"], ["status", "--json"]):
        return None
    from types import SimpleNamespace

    return SimpleNamespace(root=root, config=None, verbose=False, command="status",
                           arguments=argv[1:], json=argv[1:] == ["--json"])


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv == ["--version"]:  # what argparse would print
        print(VERSION)
        return 0
    args, module = parse(argv)
    from vrmonitor.commands.context import Context
    from vrmonitor.errors import ConfigError, VrMonitorError
    from vrmonitor.locations import chosen_root
    from vrmonitor.system.lazy_logging import configure_when_imported

    def configure(logging):
        logging.basicConfig(level=logging.DEBUG if args.verbose else logging.WARNING,
                            format="vrmonitor: %(levelname)s: %(message)s", stream=sys.stderr)

    configure_when_imported(configure)
    context = Context(chosen_root(args.root), args.config)
    error = _error_printer()
    try:
        return module.run(args, context)
    except ConfigError as exc:
        for problem in exc.problems or [str(exc)]:
            error(problem)
        return EXIT_USAGE
    except VrMonitorError as exc:
        error(f"vrmonitor: {exc}")
        return 1
    except KeyboardInterrupt:
        return 130
    except OSError as exc:  # the machine refused (a full disk, a read-only mount): not a bug
        where = f"{exc.filename}: " if exc.filename else ""
        error(f"vrmonitor: {where}{exc.strerror or exc}")
        return 1
    except Exception as exc:  # the process boundary: one line, the trace only on request
        if os.environ.get(DEBUG_ENV):
            raise
        error(f"vrmonitor: internal error: {type(exc).__name__}: {exc} "
              f"(set {DEBUG_ENV}=1 for a traceback)")
        return 1


def _error_printer():
    """print() of one error line on stderr; under systemd (stderr is the journal) with the
    `<3>` prefix, so that the journal stores it at priority err."""
    prefix = ""
    if os.environ.get("JOURNAL_STREAM"):
        from vrmonitor.system.journal import ERR, stderr_is_journal

        prefix = f"<{ERR}>" if stderr_is_journal() else ""
    return lambda line: print(prefix + line, file=sys.stderr)
