"""Subcommands of `vrmonitor`, one module each.

COMMANDS maps each command to its module and one-line summary. Every module defines
add_arguments(parser) and run(args, context) -> exit code, and imports heavy libraries
(jsonschema, psutil, scapy) only inside run(). Only the module of the command being run is
imported, so `--help` and `--version` import none.
"""

COMMANDS = {
    "run": ("vrmonitor.commands.run", "run the monitoring daemon"),
    "status": ("vrmonitor.commands.status",
               "show services, last health runs and the daemon (exit 0 well, 1 failing, 3 not running)"),
    "alerts": ("vrmonitor.commands.alerts", "print alerts from routerServiceMonitor.log, oldest first"),
    "raise-alert": ("vrmonitor.commands.raise_alert",
                    "append one alert to routerServiceMonitor.log through the daemon's writer"),
    "validate-config": ("vrmonitor.commands.validate_config",
                        "validate the configuration files; exit 2 with one line per problem"),
    "health": ("vrmonitor.commands.health",
               "run basic or advanced health checks now (joining a run in progress)"),
    "diag": ("vrmonitor.commands.diag",
             "ping, ping6, arping, traceroute or traceroute6 an address (options as the Debian tools)"),
    "compat": ("vrmonitor.commands.compat",
               "install the CloudStack entry points (getRouterAlerts.sh, diagnostics.py, ...)"),
}


def not_implemented(name: str) -> int:
    """For commands whose issue has not landed yet."""
    import sys

    print(f"vrmonitor: {name}: not implemented yet", file=sys.stderr)
    return 2
