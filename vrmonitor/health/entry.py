"""What the health entry points share: an engine for a root, and running kinds.

The engine (vrmonitor.toml's settings, the runner) is imported only by a caller that runs
checks: a cron run handed to the daemon needs neither, nor jsonschema or psutil.
"""

import logging
import time

LOG = logging.getLogger(__name__)

# The daemon is keeping a kind's schedule when its results are younger than the interval plus this.
SCHEDULE_SLACK = 30.0


def engine_for(paths):
    """A HealthEngine with vrmonitor.toml's settings; an invalid file means defaults, and its
    problems are logged (an entry point's stderr reaches the management server)."""
    from vrmonitor.config.settings import Settings, load_settings
    from vrmonitor.errors import ConfigError
    from vrmonitor.health.run import HealthEngine
    from vrmonitor.health.services import basic_services

    try:
        settings = load_settings(paths.config_file)
    except ConfigError as exc:
        for problem in exc.problems or [str(exc)]:
            LOG.warning("%s", problem)
        LOG.warning("using default settings")
        settings = Settings()
    return HealthEngine(paths, settings.health, basic_services(paths, settings))


def handed_to_daemon(paths, kind: str) -> bool:
    """The running daemon runs this kind on schedule and its last results are current."""
    from vrmonitor.health.services import daemon_services

    if daemon_services(paths) is None:
        return False
    interval = scheduled_interval(paths, kind)
    if interval <= 0:
        return False
    try:
        age = time.time() - paths.results_file(kind).stat().st_mtime
    except FileNotFoundError:
        return False
    return age <= interval + SCHEDULE_SLACK


def scheduled_interval(paths, kind: str) -> int:
    """Seconds between runs of `kind` by health_checks_data.json; 0 when not scheduled, or when
    the file is absent or that key is not a valid interval.

    Only the one key is read and checked, as the built-in checks read theirs: the whole file's
    validation (jsonschema) is for whoever runs the checks."""
    from vrmonitor.cloudstack.health_data import HealthChecksData, read_document
    from vrmonitor.errors import ConfigError

    try:
        document = read_document(paths.health_checks_data)
    except ConfigError:
        return 0
    if not isinstance(document, dict):
        return 0
    value = document.get(f"health_checks_{kind}_run_interval", HealthChecksData().interval(kind))
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0
    if isinstance(value, float) and not value.is_integer():  # nan and inf included
        return 0
    return int(value) * 60 if value > 0 else 0


def run_kinds(engine, kinds) -> list[str]:
    """Run each kind (or join the run in flight) on a HealthEngine; what could not be done in
    time, logged."""
    from vrmonitor.health.run import RunTimeout

    problems = []
    for kind in kinds:
        try:
            engine.run(kind)
        except RunTimeout as exc:
            LOG.warning("%s", exc)
            problems.append(str(exc))
    return problems
