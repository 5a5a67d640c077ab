"""Subcommands of `vrmonitor`, one module each.

Every module defines HELP, add_arguments(parser) and run(args, context) -> exit code, and
imports heavy libraries (jsonschema, psutil, scapy) only inside run(), so that `--help` and
`--version` start fast.
"""

COMMANDS = {
    "run": "vrmonitor.commands.run",
    "status": "vrmonitor.commands.status",
    "alerts": "vrmonitor.commands.alerts",
    "raise-alert": "vrmonitor.commands.raise_alert",
    "validate-config": "vrmonitor.commands.validate_config",
    "health": "vrmonitor.commands.health",
    "diag": "vrmonitor.commands.diag",
    "compat": "vrmonitor.commands.compat",
}


def not_implemented(name: str) -> int:
    """For commands whose issue has not landed yet."""
    import sys

    print(f"vrmonitor: {name}: not implemented yet", file=sys.stderr)
    return 2
