"""What the health entry points share: an engine for a root, and running kinds.

For a caller that runs checks: a cron run handed to the daemon (health/handoff.py) imports
none of this, nor the engine (vrmonitor.toml's settings, the runner), jsonschema or psutil.
"""

import logging

LOG = logging.getLogger(__name__)


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
