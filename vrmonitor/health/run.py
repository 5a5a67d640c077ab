"""One health run of a kind (basic or advanced), never two at once, whoever asks.

The daemon's scheduler, `vrmonitor health run`, `monitorServices.py` from cron and
`getRouterMonitorResults.sh true` all come here. A run holds an exclusive flock on
/run/vrmonitor/health-<kind>.lock for its whole length. A caller that finds a run in flight
waits for it (up to `[health] run_wait` seconds). If that run finished after the caller asked,
the caller takes its results instead of writing the same files again.
"""

import json
import logging
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from vrmonitor.checks.roles import not_for
from vrmonitor.cloudstack.cmdline import read_cmdline
from vrmonitor.cloudstack.health_results import (check_entries, failing_names, last_run, render,
                                                 write_results)
from vrmonitor.cloudstack.service_results import success_value
from vrmonitor.errors import VrMonitorError
from vrmonitor.health.answer import publish
from vrmonitor.health.data import HealthDataSource
from vrmonitor.health.discovery import discover
from vrmonitor.health.history import read_history
from vrmonitor.health.runner import run_checks
from vrmonitor.paths import Paths
from vrmonitor.system.files import atomic_write
from vrmonitor.system.locks import held, open_lock, try_acquire

LOG = logging.getLogger(__name__)

KINDS = ("basic", "advanced")
POLL = 0.05
# The history is a few milliseconds' read-modify-write; a holder past this is astray.
HISTORY_LOCK_WAIT = 5.0
DATA_ENTRY = "health_checks_data.json"


class RunTimeout(VrMonitorError):
    """A run of the same kind was still in progress at the caller's deadline."""


@dataclass(frozen=True)
class RunOutcome:
    kind: str
    joined: bool  # True: another caller's run answered this request
    failing: tuple[str, ...]
    message: str  # for people: what happened


class HealthEngine:
    """Runs health checks for one root; `services` supplies a basic run's service entries."""

    def __init__(self, paths: Paths, settings, services, data_source: HealthDataSource | None = None):
        """settings: the [health] section; services: callable(run_start, previous_run) ->
        (entries, failing) for basic runs."""
        self.paths = paths
        self.settings = settings
        self.services = services
        self.data = data_source or HealthDataSource(paths.health_checks_data)
        # Set when the daemon stops: running checks are killed and the run writes nothing, so
        # the previous result files stay whole.
        self.cancel = threading.Event()

    def run(self, kind: str, wait: float | None = None) -> RunOutcome:
        """Run `kind` now, or join the run in flight; raise RunTimeout after `wait` seconds."""
        if kind not in KINDS:
            raise ValueError(f"unknown health run kind {kind!r}")
        asked = time.time()
        deadline = time.monotonic() + (self.settings.run_wait if wait is None else wait)
        fd = open_lock(self.paths.run_dir / f"health-{kind}.lock")  # root's alone: system.locks
        try:
            waited = not try_acquire(fd)
            while waited and not try_acquire(fd):
                if time.monotonic() >= deadline:
                    raise RunTimeout(f"a {kind} health run is still in progress after "
                                     f"{self.settings.run_wait if wait is None else wait:g} s")
                time.sleep(POLL)
            if waited and _mtime(self.paths.results_file(kind)) >= asked:
                failing = tuple(filter(None, _read(self.paths.failing_file(kind)).split(",")))
                return RunOutcome(kind, True, failing, f"joined the {kind} run that was in progress")
            return self._perform(kind)
        finally:
            os.close(fd)  # releases the lock

    def _perform(self, kind: str) -> RunOutcome:
        start, clock = time.time(), time.monotonic()
        entries: dict = {}
        failing: list[str] = []
        notes = []
        previous = _mtime(self.paths.results_file(kind)) or None
        if kind == "basic":
            service_part, service_failing = self.services(start, previous)
            entries.update(service_part)
            failing.extend(service_failing)
        state = self.data.load()
        if state.problem:
            entries[DATA_ENTRY] = {"success": success_value(False, self.settings.status_format),
                                   "lastUpdate": str(int(start * 1000)), "lastRunDuration": "0.0",
                                   "message": state.problem}
            failing.append(DATA_ENTRY)
        results = []
        if state.data is not None and state.data.enabled:
            # The management server's exclusions, and the built-in checks of other roles.
            excluded = set(state.data.excluded) | not_for(read_cmdline(self.paths).role)
            checks, problem = discover(self.paths.health_checks_dir, excluded,
                                       self.settings.trust, self.paths.root)
            if problem:
                LOG.warning("%s: the %s run has no checks", problem, kind)
                notes.append(problem)
            results = run_checks(checks, kind, cwd=self.paths.vm_home,
                                 timeout_for=self.settings.timeout_for,
                                 dialect_for=self.settings.dialect_for,
                                 output_cap=self.settings.output_cap,
                                 max_parallel=self.settings.max_parallel, cancel=self.cancel)
            if self.cancel.is_set():
                return RunOutcome(kind, False, (), f"{kind} run stopped: vrmonitor is stopping; "
                                                   "the previous results are kept")
            entries.update(check_entries(results, self.settings.status_format))
            failing.extend(failing_names(results))
        elif state.data is None:
            notes.append("no /root/health_checks_data.json: checks disabled")
        else:
            notes.append("health_checks_enabled is false: checks not run")
        end = time.time()
        entries["lastRun"] = last_run(start, end, time.monotonic() - clock)
        write_results(self.paths.results_file(kind), self.paths.failing_file(kind), render(entries), failing)
        publish(self.paths)  # the polls' answer, made now so that they need not make it
        self._remember(results)
        summary = f"{kind} run: {len(entries) - 1} results, {len(failing)} failing"
        return RunOutcome(kind, False, tuple(failing), "; ".join([summary] + notes))

    def _remember(self, results) -> None:
        """The last [health] history results of every check, for `vrmonitor status`."""
        path = self.paths.health_history
        # Basic and advanced runs hold different run locks: this read-modify-write takes its own.
        lock = self.paths.health_history_lock
        try:
            with held(lock, exclusive=True, wait=HISTORY_LOCK_WAIT):
                self._update_history(path, results)
        except OSError as exc:  # LockTimeout included: the results are written; only history waits
            LOG.error("%s; %s not updated", exc, path)

    def _update_history(self, path: Path, results) -> None:
        history = read_history(path)  # damaged: logged and set aside; this run starts it anew
        for result in results:
            if result.status == "skip":
                continue
            kept = history.get(result.name, [])[-(self.settings.history - 1):] if self.settings.history > 1 else []
            kept.append({"time": result.started, "status": result.status,
                         "duration_ms": round(result.duration_ms, 1), "message": result.message[:200]})
            history[result.name] = kept
        try:
            # Check messages are root's (the reference kept them in /root): 0600 even when a
            # run before any daemon made /var/lib/vrmonitor (0755, as atomic_write makes folders).
            atomic_write(path, json.dumps(history, indent=1) + "\n", mode=0o600)
        except OSError as exc:
            LOG.error("cannot write %s: %s", path, exc)


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:
        return 0.0


def _read(path: Path) -> str:
    try:
        return path.read_text()
    except FileNotFoundError:
        return ""
