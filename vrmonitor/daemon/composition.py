"""The daemon as composition: it builds the jobs once, then runs the loop over them.

The jobs (each `next_due()` / `tick(now)`, daemon/periodic.py), in the order of one turn:
the clock watch, the service monitor, the alerts held back by a full disk, the health
schedule, daemon.json, the Prometheus textfile, the status line and systemd's watchdog.
The loop sleeps in a selector holding a wake-up pipe (every signal and every finished
recovery or health run writes to it) and the pidfds of the watched services. All timing is on
the monotonic clock; the wall clock only labels.
"""

import logging
import os
import selectors
import sys
from datetime import datetime
from typing import TextIO

from vrmonitor.alerts.held import HeldAlerts
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.clock import SystemClock
from vrmonitor.cloudstack import local_health_data
from vrmonitor.cloudstack.cmdline import read_cmdline
from vrmonitor.cloudstack.service_results import service_entries
from vrmonitor.config.settings import load_settings
from vrmonitor.daemon.agent_watch import AgentWatch
from vrmonitor.daemon.clock_watch import ClockWatch
from vrmonitor.daemon.periodic import Every, Periodic, run_loop, wake
from vrmonitor.daemon.published_state import StatePublisher
from vrmonitor.daemon.signals import SignalFlags
from vrmonitor.daemon.textfile_export import Disabled, TextfileExport
from vrmonitor.errors import ConfigError
from vrmonitor.export import prometheus
from vrmonitor.export.daemon_runs import DaemonRuns
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.health.data import HealthDataSource
from vrmonitor.health.run import KINDS, HealthEngine
from vrmonitor.health.scheduler import HealthScheduler
from vrmonitor.paths import Paths
from vrmonitor.services.boot_grace import boot_start_now, still_booting
from vrmonitor.services.configtest import ConfigGate
from vrmonitor.services.monitor import ServiceMonitor
from vrmonitor.services.probes import DEFAULT_PROBES, probe
from vrmonitor.services.recovery import recover
from vrmonitor.services.saved_state import read_daemon_state
from vrmonitor.services.source import ServiceSource, refresh_agent_pidfile
from vrmonitor.system.boot import boot_key, read_boot_id, since_boot
from vrmonitor.system.identity import identify
from vrmonitor.system.initsys import detect_init_system
from vrmonitor.system.locks import private_folder
from vrmonitor.system.notify import Notifier

LOG = logging.getLogger(__name__)

# The longest the loop waits for the alert lock at one write (WatchdogSec is 30 s).
ALERT_LOCK_WAIT = 0.5
# System VMs (docs/system-vms.md): how often the agent's PID is looked for, and how often the
# health_checks_data.json written from [systemvm] is compared with the settings.
AGENT_REFRESH = 1.0
SYSTEM_VM_DATA_EVERY = 60.0


class Daemon:
    def __init__(self, paths: Paths, settings, *, config_file: str | None = None,
                 status_every: float = 0.0, out: TextIO | None = sys.stdout,
                 notifier: Notifier | None = None, init=None, clock=None):
        self.paths = paths
        self.settings = settings
        self.config_file = config_file or str(paths.config_file)
        self.status_every = status_every
        self.out = out
        self.notifier = notifier or Notifier()
        self.init = init or detect_init_system()
        self.clock = clock or SystemClock()
        self._flags = SignalFlags()
        # (wall time, start ticks), set in run(): python-daemon forks between __init__ and run.
        self._started: tuple[float, int | None] = (0.0, None)
        self._boot_start = 0.0  # this boot's start on the wall clock, set in run()
        self._loop_lag = LoopLag()  # how late the loop wakes for its schedule
        self._alerts: HeldAlerts | None = None  # set in _build_monitor
        self._publisher: StatePublisher | None = None  # set in run()
        self._source = ServiceSource(paths)  # the services to watch
        self._reload_ok = True  # whether the last load of vrmonitor.toml (start, SIGHUP) succeeded
        self._health_data: HealthDataSource | None = None  # the health engine's, set in _build_health
        self._runs = DaemonRuns(paths)

    def run(self) -> int:
        """Monitor until SIGTERM or SIGINT; return the exit code (0)."""
        me = identify(os.getpid())
        # With the PID, the start ticks prove the state file is this process's.
        self._started = (me.start_time, me.start_ticks) if me else (self.clock.wall(), None)
        self._private_folders()
        selector = selectors.DefaultSelector()
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        selector.register(wake_read, selectors.EVENT_READ, None)
        self._flags.install(wake_write)
        before = self._previous_state()
        # This boot's start as the first daemon of the boot reckoned it, before any later step.
        carried = before.get("boot_start")
        self._boot_start = (carried if isinstance(carried, (int, float))
                            else boot_start_now(self.clock.wall(), since_boot(self.clock.monotonic())))
        alerts = self._alerts = self._build_alerts()
        monitor = self._build_monitor(selector, wake_write, before, alerts)
        health = self._build_health(wake_write)
        publisher = self._publisher = StatePublisher(
            self.paths.daemon_state, monitor, self.clock.wall,
            {"started": self._started[0], "started_ticks": self._started[1],
             "boot_start": self._boot_start, "init": self.init.name},
            self.notifier.status, self.clock.monotonic)
        export = self._textfile_export()
        try:
            monitor.tick(self.clock.monotonic())
            publisher.publish()
            self._runs.started()  # after the first publish: daemon.json is the daemon's first write
            self.notifier.ready(monitor.summary())  # READY=1 once the first service pass is done
            jobs: list[Periodic] = [
                ClockWatch(self.clock.wall), monitor, alerts, health, publisher, export,
                Every(self.status_every if self.out is not None else 0.0,
                      lambda: self._print_status(monitor.summary())),
                Every(self.notifier.watchdog_interval, self.notifier.watchdog),
                AgentWatch(self._system_vm, lambda: refresh_agent_pidfile(self.paths), AGENT_REFRESH,
                           lambda: self.settings.services.verify_interval),
                Every(SYSTEM_VM_DATA_EVERY, self._system_vm_health_data)]
            run_loop(jobs, selector, wake_read, self.clock.monotonic, self._loop_lag,
                     stopping=lambda: self._flags.stop,
                     before_turn=lambda: self._reload_if_asked(monitor, health))
        finally:
            self.notifier.stopping()
            health.close()
            monitor.close()
            if self._alerts is not None and not self._alerts.flush():
                LOG.error("exiting with %d alerts the disk did not take", len(self._alerts))
            export.stop()  # vrmonitor_up 0
            self._runs.stopped()
            self._flags.restore()
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

    def _build_alerts(self) -> HeldAlerts:
        # A lock held too long (by a reader gone astray) holds the alert back, never the loop.
        writer = AlertWriter(self.paths, self.settings.alerts.max_bytes, self.settings.alerts.backups,
                             lock_wait=ALERT_LOCK_WAIT)
        try:
            writer.repair_legacy_log()  # a writer killed between the journal and the legacy log
        except OSError as exc:
            LOG.error("cannot repair %s: %s", self.paths.alert_log, exc)
        return HeldAlerts(writer, wall=self.clock.wall, monotonic=self.clock.monotonic)  # a full /var delays, never loses

    def _build_monitor(self, selector, wake_write: int, before: dict, alerts: HeldAlerts) -> ServiceMonitor:
        services = self.settings.services
        source = self._source  # monitor.conf, or a system VM's role's services
        gate = ConfigGate()

        # These read self.settings when called, so a SIGHUP's new overrides apply at once.
        def recover_job(entry, init, seen):
            # A system VM's agent has no pidfile: its PID as of now, so that a restart its own
            # unit already made is seen as such (docs/system-vms.md).
            self._source.refresh_agent()
            return recover(entry, self._source.recovery_init(init),
                           self.settings.services.override_for(entry.section), gate=gate, seen=seen)

        def on_up(entry):
            """While the service runs: test its configuration, so that a crash needs only a
            restart, and learn its unit's restart policy, so that systemd is not asked while
            it restarts the unit itself."""
            override = self.settings.services.override_for(entry.section)
            if override.config_test is None:
                gate.check(entry.processname)
            self.init.learn(entry.servicename or entry.processname)

        def functional_probe(entry):
            override = self.settings.services.override_for(entry.section)
            # Opt-in per service: on a router sshd listens on the control IP:3922 and dnsmasq
            # ignores lo, so loopback defaults would call healthy services degraded.
            if override is None or override.probe is None:
                return None
            default_port = DEFAULT_PROBES.get(entry.processname, ("none", None))[1]
            return probe(override.probe, override.probe_port or default_port)

        return ServiceMonitor(source.load, services, alerts, self.init, selector,
                              lambda: wake(wake_write),
                              recover_job=recover_job, probe=functional_probe,
                              reminder_interval=self.settings.alerts.reminder_interval,
                              booting=self._booting, previous=self._previous_services(before),
                              on_up=on_up, clock=self.clock)

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
                             self._boot_start, self.clock.wall(), since_boot(self.clock.monotonic()))

    def _build_health(self, wake_write: int) -> HealthScheduler:
        def services(run_start: float, previous_run: float | None):
            # The snapshot the loop last published: a worker thread must not walk the live monitor.
            published = self._publisher.services if self._publisher else None
            return service_entries(published or {}, run_start, previous_run,
                                   self.settings.health.status_format)

        engine = HealthEngine(self.paths, self.settings.health, services)
        self._health_data = engine.data
        return HealthScheduler(engine, lambda: wake(wake_write))

    def _textfile_export(self) -> TextfileExport | Disabled:
        if not prometheus.enabled(self.settings.export.prometheus, self.paths):
            return Disabled()
        return TextfileExport(self.paths, self._publisher, self._loop_lag, lambda: self._started[0],
                              wall=self.clock.wall, held=lambda: len(self._alerts or ()),
                              reload_ok=lambda: self._reload_ok, intervals=self._health_intervals,
                              runs=self._runs)

    def _health_intervals(self) -> dict:
        """kind -> seconds between scheduled runs (0: not scheduled), as the scheduler reads them."""
        data = self._health_data.load().data if self._health_data is not None else None
        return {kind: data.interval(kind) * 60.0 if data else 0.0 for kind in KINDS}

    def _reload_if_asked(self, monitor: ServiceMonitor, health: HealthScheduler) -> None:
        if self._flags.take_reload():
            self._reload(monitor, health)

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
            self._reload_ok = False
        else:
            self._reload_ok = True
            self.settings = settings
            monitor.update_settings(settings.services, settings.alerts.reminder_interval)
            health.update_settings(settings.health)
            LOG.warning("reload: %s loaded", self.config_file)
            self._system_vm_health_data()
        monitor.reload()
        health.reload()

    def _system_vm(self) -> bool:
        return read_cmdline(self.paths).is_system_vm

    def _system_vm_health_data(self) -> None:
        """On the SSVM and CPVM, health_checks_data.json from [systemvm] (no MS writes one)."""
        if read_cmdline(self.paths).is_system_vm:
            LOG.debug("%s", local_health_data.sync(self.paths, self.settings.systemvm))

    def _print_status(self, summary: str) -> None:
        """One line for a person at the terminal (`run --foreground --status-every`)."""
        services = (self._publisher.services if self._publisher else None) or {}
        parts = [f"{name} {state.get('state', 'unknown')} ({state.get('reason', '')})"
                 for name, state in services.items()]
        stamp = datetime.fromtimestamp(self.clock.wall()).strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {summary}: " + (" | ".join(parts) or "nothing to monitor"),
              file=self.out, flush=True)
