"""What the health entry points share: an engine for a root, and running kinds with messages."""

import sys
import time

from vrmonitor.config.settings import Settings, load_settings
from vrmonitor.errors import ConfigError
from vrmonitor.health.run import HealthEngine, RunTimeout
from vrmonitor.health.services import basic_services, daemon_services

# The daemon is keeping a kind's schedule when its results are younger than the interval plus this.
SCHEDULE_SLACK = 30.0


def engine_for(paths, name: str) -> HealthEngine:
    """An engine with vrmonitor.toml's settings; an invalid file means defaults, said on stderr."""
    try:
        settings = load_settings(paths.config_file)
    except ConfigError as exc:
        for problem in exc.problems:
            print(f"{name}: {problem}", file=sys.stderr)
        print(f"{name}: using default settings", file=sys.stderr)
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


def run_kinds(engine: HealthEngine, kinds, name: str) -> int:
    """Run each kind (or join the run in flight); 1 if a run could not be done in time."""
    status = 0
    for kind in kinds:
        try:
            engine.run(kind)
        except RunTimeout as exc:
            print(f"{name}: {exc}", file=sys.stderr)
            status = 1
    return status
