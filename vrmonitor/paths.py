"""Every file location vrmonitor reads or writes, relocatable under a root folder.

A real VM uses root `/`; tests and the demo use a temporary folder. Paths written inside
configuration values (a service's pidfile) and `/proc`, `/sys` are never relocated.
Messages meant for the management server keep using the contract paths (`vm_path`).
"""

from dataclasses import dataclass
from pathlib import Path

from vrmonitor import locations
from vrmonitor.locations import CLOUD_BIN, VM_HOME

HEALTH_KINDS = ("basic", "advanced")
__all__ = ["CLOUD_BIN", "HEALTH_KINDS", "VM_HOME", "Paths"]


@dataclass(frozen=True)
class Paths:
    root: Path

    @classmethod
    def from_option(cls, root: str | None) -> "Paths":
        """The root given on the command line, else $VRMONITOR_ROOT, else `/`."""
        return cls(Path(locations.chosen_root(root)))

    def under(self, vm_path: str) -> Path:
        """The location of a contract path (as on a real VM) under this root."""
        return self.root / vm_path.lstrip("/")

    # vrmonitor's own files
    @property
    def config_file(self) -> Path:
        return self.under(locations.CONFIG_FILE)

    @property
    def state_dir(self) -> Path:
        return self.under(locations.STATE_DIR)

    @property
    def daemon_state(self) -> Path:
        """What the running daemon sees, for `vrmonitor status` and basic health runs."""
        return self.under(locations.DAEMON_STATE)

    @property
    def health_history(self) -> Path:
        """Each check's last results, for `vrmonitor status` and the Prometheus export."""
        return self.under(locations.HEALTH_HISTORY)

    @property
    def health_history_lock(self) -> Path:
        """Held while a run reads, merges and rewrites health_history."""
        return self.run_dir / "health-history.lock"

    @property
    def run_dir(self) -> Path:
        return self.under("/run/vrmonitor")

    @property
    def pidfile(self) -> Path:
        return self.run_dir / "vrmonitor.pid"

    @property
    def results_answer(self) -> Path:
        """getRouterMonitorResults.sh's answer as last composed, with what it was made of."""
        return self.run_dir / "monitor-results.answer"

    @property
    def results_answer_lock(self) -> Path:
        """Held while the answer is composed and published."""
        return self.run_dir / "monitor-results-answer.lock"

    @property
    def quiet_alerts(self) -> Path:
        """A timestamp getRouterAlerts.sh answers with `No Alerts`, with the files that decided it."""
        return self.run_dir / "no-alerts.answer"

    @property
    def prometheus_file(self) -> Path:
        return self.under("/var/lib/prometheus/node-exporter/vrmonitor.prom")

    # CloudStack contract files
    @property
    def monitor_conf(self) -> Path:
        return self.under("/etc/monitor.conf")

    @property
    def health_checks_data(self) -> Path:
        return self.under(locations.HEALTH_CHECKS_DATA)

    @property
    def health_checks_dir(self) -> Path:
        return self.under(f"{VM_HOME}/health_checks")

    @property
    def vm_home(self) -> Path:
        """Root's home on the VM: the working folder of every MS command and check."""
        return self.under(VM_HOME)

    def results_file(self, kind: str) -> Path:
        return self.under(locations.results_file(kind))

    def failing_file(self, kind: str) -> Path:
        return self.under(f"{VM_HOME}/{kind}_failing_health_checks")

    @property
    def alert_log(self) -> Path:
        return self.under("/var/log/routerServiceMonitor.log")

    @property
    def monitor_log(self) -> Path:
        return self.under(locations.MONITOR_LOG)

    @property
    def release_file(self) -> Path:
        return self.under("/etc/cloudstack-release")

    @property
    def scripts_signature(self) -> Path:
        return self.under("/var/cache/cloud/cloud-scripts-signature")

    @property
    def config_cache(self) -> Path:
        return self.under("/var/cache/cloud")

    @property
    def dhcphosts(self) -> Path:
        return self.under("/etc/dhcphosts.txt")

    @property
    def hosts(self) -> Path:
        return self.under("/etc/hosts")

    @property
    def haproxy_cfg(self) -> Path:
        return self.under("/etc/haproxy/haproxy.cfg")

    # System VM files (contract 10)
    @property
    def cmdline(self) -> Path:
        """The boot arguments of every system VM type (contract 10.2)."""
        return self.under(locations.CMDLINE)

    @property
    def boot_up_done(self) -> Path:
        """Written last by the system VM's boot configuration (contract 10.2)."""
        return self.under("/var/cache/cloud/boot_up_done")

    @property
    def secstorage_dir(self) -> Path:
        """Where the SSVM mounts its image stores, one folder each (contract 10.4)."""
        return self.under("/mnt/SecStorage")

    @property
    def vncport(self) -> Path:
        """The console proxy's websocket port, written at boot (contract 10.5)."""
        return self.under("/root/vncport")

    @property
    def resolv_conf(self) -> Path:
        return self.under("/etc/resolv.conf")

    @property
    def systemvm_trust_store(self) -> Path:
        """CA certificates the VM trusts (Debian's bundle)."""
        return self.under("/etc/ssl/certs/ca-certificates.crt")

    @property
    def local_health_data(self) -> Path:
        """A copy of the health_checks_data.json vrmonitor wrote on a system VM itself."""
        return self.state_dir / "local-health-data.json"
