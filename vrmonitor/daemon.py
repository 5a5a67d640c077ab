"""The daemon: builds everything once and runs one loop; signal handlers only set flags.

The loop sleeps in a selector holding a wake-up pipe (every signal and every finished recovery
writes to it) and the pidfds of the watched services, whose keys carry the callback to run. All
timing is on the monotonic clock.
"""

import json
import logging
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass
from typing import TextIO

from vrmonitor.alerts.store import AlertStore
from vrmonitor.alerts.held import HeldAlerts
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.cloudstack.service_results import service_entries
from vrmonitor.config.settings import load_settings
from vrmonitor.errors import ConfigError
from vrmonitor.export import prometheus
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.health.history import read_history
from vrmonitor.health.run import HealthEngine
from vrmonitor.health.scheduler import HealthScheduler
from vrmonitor.paths import Paths
from vrmonitor.services.boot_grace import boot_start_now, still_booting
from vrmonitor.system.boot import boot_key, read_boot_id, since_boot
from vrmonitor.services.configtest import ConfigGate
from vrmonitor.services.monitor import ServiceMonitor
from vrmonitor.services.probes import DEFAULT_PROBES, probe
from vrmonitor.services.recovery import recover
from vrmonitor.services.saved_state import read_daemon_state
from vrmonitor.services.source import MonitorConfSource
from vrmonitor.system.files import atomic_write
from vrmonitor.system.locks import private_folder
from vrmonitor.system.identity import identify
from vrmonitor.system.initsys import detect_init_system
from vrmonitor.system.notify import Notifier

LOG = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
# The longest the loop waits for the alert lock at one write (WatchdogSec is 30 s).
ALERT_LOCK_WAIT = 0.5


@dataclass
class _Flags:
    stop: bool = False
    reload: bool = False


class Daemon:
    def __init__(self, paths: Paths, settings, *, config_file: str | None = None,
                 status_every: float = 0.0, out: TextIO = sys.stdout,
                 notifier: Notifier | None = None, init=None):
        self.paths = paths
        self.settings = settings
        self.config_file = config_file or str(paths.config_file)
        self.status_every = status_every
        self.out = out
        self.notifier = notifier or Notifier()
        self.init = init or detect_init_system()
        self._flags = _Flags()
        self._last_snapshot = None
        # (wall time, start ticks), set in run(): python-daemon forks between __init__ and run.
        self._started = None
        self._boot_start = 0.0  # this boot's start on the wall clock, set in run()
        self._loop_lag = LoopLag()  # how late the loop wakes for its schedule
        self._alerts: HeldAlerts | None = None  # set in _build_monitor

    def run(self) -> int:
        """Monitor until SIGTERM or SIGINT; return the exit code (0)."""
        me = identify(os.getpid())
        # With the PID, the start ticks prove the state file is this process's.
        self._started = (me.start_time, me.start_ticks) if me else (time.time(), None)
        self._private_folders()
        selector = selectors.DefaultSelector()
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        selector.register(wake_read, selectors.EVENT_READ, None)
        previous = self._install_signals(wake_write)
        before = self._previous_state()
        # This boot's start as the first daemon of the boot reckoned it, before any later step.
        carried = before.get("boot_start")
        self._boot_start = (carried if isinstance(carried, (int, float))
                            else boot_start_now(time.time(), since_boot(time.monotonic())))
        monitor = self._build_monitor(selector, wake_write, before)
        health = self._build_health(wake_write)
        try:
            monitor.tick(time.monotonic())
            self._publish(monitor)
            self.notifier.ready(monitor.summary())  # READY=1 once the first service pass is done
            self._loop(selector, wake_read, monitor, health)
        finally:
            self.notifier.stopping()
            health.close()
            monitor.close()
            if self._alerts is not None and not self._alerts.flush():
                LOG.error("exiting with %d alerts the disk did not take", len(self._alerts))
            self._restore_signals(previous)
            selector.close()
            os.close(wake_read)
            os.close(wake_write)
        return 0

    def _private_folders(self) -> None:
        """State and runtime folders only root may enter: they hold check messages, service
        reasons and the locks (systemd's StateDirectoryMode= does as much; SysV has this)."""
        for folder in (self.paths.state_dir, self.paths.run_dir):
            try:
                private_folder(folder)
            except OSError as exc:
                LOG.error("cannot make %s private (0700): %s", folder, exc)

    def _build_monitor(self, selector, wake_write: int, before: dict) -> ServiceMonitor:
        services = self.settings.services
        # A lock held too long (by a reader gone astray) holds the alert back, never the loop.
        writer = AlertWriter(self.paths, self.settings.alerts.max_bytes, self.settings.alerts.backups,
                             lock_wait=ALERT_LOCK_WAIT)
        try:
            writer.repair_legacy_log()  # a writer killed between the journal and the legacy log
        except OSError as exc:
            LOG.error("cannot repair %s: %s", self.paths.alert_log, exc)
        alerts = self._alerts = HeldAlerts(writer)  # a full /var delays alerts, never loses them
        source = MonitorConfSource(self.paths.monitor_conf)

        def wake() -> None:
            _wake(wake_write)

        gate = ConfigGate()

        # These read self.settings when called, so a SIGHUP's new overrides apply at once.
        def recover_job(entry, init, seen):
            return recover(entry, init, self.settings.services.override_for(entry.section),
                           gate=gate, seen=seen)

        def prime_gate(entry):
            """Test the configuration while the service runs, so a crash needs only a restart."""
            override = self.settings.services.override_for(entry.section)
            if override.config_test is None:
                gate.check(entry.processname)

        def functional_probe(entry):
            override = self.settings.services.override_for(entry.section)
            # Opt-in per service: on a router sshd listens on the control IP:3922 and dnsmasq
            # ignores lo, so loopback defaults would call healthy services degraded.
            if override is None or override.probe is None:
                return None
            default_port = DEFAULT_PROBES.get(entry.processname, ("none", None))[1]
            return probe(override.probe, override.probe_port or default_port)

        return ServiceMonitor(source.load, services, alerts, self.init, selector, wake,
                              recover_job=recover_job, probe=functional_probe,
                              reminder_interval=self.settings.alerts.reminder_interval,
                              booting=self._booting, previous=self._previous_services(before),
                              on_up=prime_gate)

    def _previous_state(self) -> dict:
        """The last daemon's state, if it ran on this same boot (else start afresh: {})."""
        state = read_daemon_state(self.paths)  # damaged: logged, set aside, start afresh
        if state is None:
            return {}
        # "boot" (boot id and PID 1's start) tells a container's reboot too; an older daemon's
        # state has only the boot id.
        same = (state.get("boot") == boot_key() if "boot" in state
                else state.get("boot_id") == read_boot_id())
        return state if same else {}

    @staticmethod
    def _previous_services(before: dict) -> dict:
        services = before.get("services")
        return services if isinstance(services, dict) else {}

    def _booting(self) -> bool:
        """A CloudStack system VM whose boot configuration has not finished, within the grace
        ([services] startup_grace, from boot): docs/daemon.md, services/boot_grace.py."""
        return still_booting(self.paths.config_cache, self.settings.services.startup_grace,
                             self._boot_start, time.time(), since_boot(time.monotonic()))

    def _build_health(self, wake_write: int) -> HealthScheduler:
        def services(run_start: float, previous_run: float | None):
            # The snapshot the loop last published: a worker thread must not walk the live monitor.
            return service_entries(self._last_snapshot or {}, run_start, previous_run,
                                   self.settings.health.status_format)

        engine = HealthEngine(self.paths, self.settings.health, services)
        return HealthScheduler(engine, lambda: _wake(wake_write))

    def _loop(self, selector, wake_read: int, monitor: ServiceMonitor, health: HealthScheduler) -> None:
        now = time.monotonic()
        next_status = now if self.status_every and self.out is not None else float("inf")
        watchdog = self.notifier.watchdog_interval
        next_watchdog = now if watchdog else float("inf")
        export = prometheus.enabled(self.settings.export.prometheus, self.paths)
        next_export = now
        clock_ref = (now, time.time())
        while not self._flags.stop:
            now = time.monotonic()
            clock_ref = _check_clock(clock_ref, now)
            if self._flags.reload:
                self._flags.reload = False
                self._reload(monitor, health)
            monitor.tick(now)
            if len(self._alerts):
                self._alerts.flush()
            health.tick(now)
            changed = self._publish(monitor)
            if changed:
                self.notifier.status(monitor.summary())
            if export and (changed or now >= next_export):
                self._export()
                next_export = now + prometheus.REFRESH
            if now >= next_status:
                self._print_status(monitor)
                next_status = now + self.status_every
            if now >= next_watchdog:
                self.notifier.watchdog()
                next_watchdog = now + watchdog
            due = min(monitor.next_due(), health.next_due(), next_status, next_watchdog,
                      next_export if export else float("inf"))
            timeout = max(0.0, due - time.monotonic())
            events = selector.select(timeout)
            woke = time.monotonic()
            if woke >= due:  # the schedule was due (an event may have come at the same time): how late?
                self._loop_lag.observe(woke - due)
            for key, _ in events:
                if key.data is None:
                    _drain(wake_read)
                else:
                    key.data()

    def _reload(self, monitor: ServiceMonitor, health: HealthScheduler) -> None:
        """SIGHUP: vrmonitor.toml, monitor.conf and health_checks_data.json again. An invalid
        vrmonitor.toml is reported and the last good settings stay in force."""
        try:
            settings = load_settings(self.config_file)
        except ConfigError as exc:
            for problem in exc.problems or [str(exc)]:
                LOG.error("reload: %s", problem)
            LOG.error("reload: %s is invalid; the last good configuration stays in force",
                      self.config_file)
        else:
            self.settings = settings
            monitor.update_settings(settings.services, settings.alerts.reminder_interval)
            health.update_settings(settings.health)
            LOG.warning("reload: %s loaded", self.config_file)
        monitor.reload()
        health.reload()

    def _export(self) -> None:
        """The Prometheus textfile; a failure is logged, never fatal."""
        checks = read_history(self.paths.health_history)
        run_times = {}
        for kind in ("basic", "advanced"):
            try:
                run_times[kind] = self.paths.results_file(kind).stat().st_mtime
            except FileNotFoundError:
                pass
        last = AlertStore(self.paths).last_record()
        text = prometheus.render(self._last_snapshot or {}, checks, run_times,
                                 last["seq"] if last else 0, self._loop_lag.take_worst(),
                                 self._started[0] if self._started else 0.0, self._loop_lag)
        try:
            prometheus.write(self.paths, text)
        except OSError as exc:
            LOG.error("cannot write %s: %s", self.paths.prometheus_file, exc)

    def _publish(self, monitor: ServiceMonitor) -> bool:
        """The state file read by `vrmonitor status` and by basic health runs; written on change.

        Returns whether anything changed."""
        services = monitor.snapshot(time.time())
        if services == self._last_snapshot:
            return False
        self._last_snapshot = services
        state = {"pid": os.getpid(), "started": self._started[0], "started_ticks": self._started[1],
                 "boot_id": read_boot_id(), "boot": boot_key(), "boot_start": self._boot_start,
                 "updated": time.time(), "init": self.init.name, "services": services}
        try:
            atomic_write(self.paths.daemon_state, json.dumps(state, indent=1) + "\n")
        except OSError as exc:
            LOG.error("cannot write %s: %s", self.paths.daemon_state, exc)
        return True

    def _print_status(self, monitor: ServiceMonitor) -> None:
        parts = [f"{name} {w.state.value if w.state else 'unknown'} ({w.reason})"
                 for name, w in monitor.watched.items()]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {monitor.summary()}: " + (" | ".join(parts) or "nothing to monitor"),
              file=self.out, flush=True)

    def _install_signals(self, wake_write: int):
        def stop(signum, frame):
            self._flags.stop = True

        def reload(signum, frame):
            self._flags.reload = True

        previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
        previous["wakeup"] = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        return previous

    @staticmethod
    def _restore_signals(previous) -> None:
        signal.set_wakeup_fd(previous.pop("wakeup"))
        for sig, handler in previous.items():
            signal.signal(sig, handler)


# A wall clock that moved this much more (or less) than the monotonic clock was stepped.
CLOCK_STEP = 2.0


def _check_clock(reference: tuple[float, float], now: float) -> tuple[float, float]:
    """Log a step of the wall clock; schedules run on the monotonic clock and do not move."""
    wall = time.time()
    drift = (wall - reference[1]) - (now - reference[0])
    if abs(drift) > CLOCK_STEP:
        LOG.warning("the wall clock stepped by %+.1f s; schedules are unaffected (monotonic)", drift)
        return now, wall
    return reference if now - reference[0] < 3600 else (now, wall)


def _wake(fd: int) -> None:
    try:
        os.write(fd, b"w")
    except BlockingIOError:
        pass  # the pipe is full: the loop is awake anyway


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
