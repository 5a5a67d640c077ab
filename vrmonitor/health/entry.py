"""What the health entry points share: an engine for a root, and running kinds."""

import logging
import time

from vrmonitor.config.settings import Settings, load_settings
from vrmonitor.errors import ConfigError
from vrmonitor.health.run import HealthEngine, RunTimeout
from vrmonitor.health.services import basic_services, daemon_services

LOG = logging.getLogger(__name__)

# The daemon is keeping a kind's schedule when its results are younger than the interval plus this.
SCHEDULE_SLACK = 30.0


def engine_for(paths) -> HealthEngine:
    """An engine with vrmonitor.toml's settings; an invalid file means defaults, and its
    problems are logged (an entry point's stderr reaches the management server)."""
    try:
        settings = load_settings(paths.config_file)
    except ConfigError as exc:
        for problem in exc.problems or [str(exc)]:
            LOG.warning("%s", problem)
        LOG.warning("using default settings")
        settings = Settings()
    return HealthEngine(paths, settings.health, basic_services(paths, settings))


def handed_to_daemon(engine: HealthEngine, kind: str) -> bool:
    """The running daemon runs this kind on schedule and its last results are current."""
    if daemon_services(engine.paths) is None:
        return False
    data = engine.data.load().data
    interval = data.interval(kind) * 60 if data else 0
    if interval <= 0:
        return False
    try:
        age = time.time() - engine.paths.results_file(kind).stat().st_mtime
    except FileNotFoundError:
        return False
    return age <= interval + SCHEDULE_SLACK


def run_kinds(engine: HealthEngine, kinds) -> list[str]:
    """Run each kind (or join the run in flight); what could not be done in time, logged."""
    problems = []
    for kind in kinds:
        try:
            engine.run(kind)
        except RunTimeout as exc:
            LOG.warning("%s", exc)
            problems.append(str(exc))
    return problems
