"""`vrmonitor validate-config`: check vrmonitor.toml, /etc/monitor.conf, health_checks_data.json.

Reads the three files and writes nothing. A valid or absent file gets one line on stdout;
an invalid one gets one line per problem on stderr (file, path of the value, what is wrong)
and nothing on stdout. Exit 0 when all three are valid, 2 otherwise. vrmonitor.toml is named
by the path it was read from; the CloudStack files by their contract paths, as everywhere.
"""

import sys


EXIT_INVALID = 2


def add_arguments(parser):
    pass


def run(args, context) -> int:
    from pathlib import Path

    from vrmonitor.cloudstack import health_data, monitor_conf
    from vrmonitor.config.settings import load_settings
    from vrmonitor.errors import ConfigError

    def settings_status():
        path = Path(context.config_file)
        load_settings(path, context.config_file)
        return "ok" if path.exists() else "absent, defaults apply"

    def monitor_conf_status():
        path = context.paths.monitor_conf
        found = monitor_conf.load_monitor_conf(path, monitor_conf.CONTRACT_PATH)
        if found.problems:
            raise ConfigError(monitor_conf.CONTRACT_PATH, list(found.problems))
        return "ok" if path.exists() else "absent, no services"

    def health_data_status():
        found = health_data.load_health_data(context.paths.health_checks_data,
                                             health_data.CONTRACT_PATH)
        return "absent, health checks disabled" if found is None else "ok"

    valid = True
    for name, status in ((context.config_file, settings_status),
                         (monitor_conf.CONTRACT_PATH, monitor_conf_status),
                         (health_data.CONTRACT_PATH, health_data_status)):
        try:
            outcome = status()
        except ConfigError as exc:
            valid = False
            for problem in exc.problems:
                print(problem, file=sys.stderr)
        else:
            print(f"{name}: {outcome}")
    return 0 if valid else EXIT_INVALID
