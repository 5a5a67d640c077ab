"""`vrmonitor validate-config`: check vrmonitor.toml, /etc/monitor.conf, health_checks_data.json."""

from vrmonitor.commands import not_implemented

HELP = "validate the configuration files; exit 2 with one line per problem"


def add_arguments(parser):
    pass


def run(args, context) -> int:
    return not_implemented("validate-config")
