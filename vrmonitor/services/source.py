"""The service list: from /etc/monitor.conf, re-parsed only when the file changes, or on the
secondary storage and console proxy VMs (no monitor.conf) the role's own services."""

import logging
import os

from vrmonitor.cloudstack.cmdline import CONSOLEPROXY, SECSTORAGE, read_cmdline
from vrmonitor.cloudstack.monitor_conf import ServiceEntry, load_monitor_conf
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths
from vrmonitor.system.files import atomic_write
from vrmonitor.system.proc_search import has_argument, pids_with_argument

LOG = logging.getLogger(__name__)


class MonitorConfSource:
    def __init__(self, path):
        self._path = path
        self._stamp = object()  # never equal to a real stamp: the first load parses
        self._entries: tuple = ()

    def load(self) -> tuple[tuple, object]:
        """(entries, fingerprint); the fingerprint changes whenever the file does."""
        try:
            info = os.stat(self._path)
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                conf = load_monitor_conf(self._path)
            except ConfigError as exc:  # unreadable now: keep watching what we had
                LOG.error("%s", exc)
                return self._entries, self._stamp
            for problem in conf.problems:
                LOG.warning("%s", problem)
            self._stamp, self._entries = stamp, conf.services
        return self._entries, self._stamp


# The services of the two system VMs that get no monitor.conf (contract 10.4, 10.5). Sections
# name the results (`ssh.service`), as a router's monitor.conf sections do.
AGENT_CLASS = b"com.cloud.agent.AgentShell"
AGENT_PIDFILE = "cloud-agent.pid"  # in vrmonitor's run folder: the agent writes none
_SSH = ServiceEntry(section="ssh", processname="sshd", servicename="ssh", pidfile="/run/sshd.pid")
_APACHE = ServiceEntry(section="webserver", processname="apache2", servicename="apache2",
                       pidfile="/run/apache2/apache2.pid")


def role_services(role: str | None, paths: Paths) -> tuple[ServiceEntry, ...] | None:
    """The services a system VM's role runs; None for a router or an unknown role (monitor.conf)."""
    agent = ServiceEntry(section="cloud", processname="java", servicename="cloud",
                         pidfile=str(paths.run_dir / AGENT_PIDFILE))
    if role == SECSTORAGE:
        return (_SSH, _APACHE, agent)
    if role == CONSOLEPROXY:
        return (_SSH, agent)
    return None


def agent_pids(proc: str = "/proc") -> list[int]:
    """PIDs whose command line names the agent's main class, lowest first."""
    return pids_with_argument(AGENT_CLASS, proc)


def refresh_agent_pidfile(paths: Paths, proc: str = "/proc") -> None:
    """Write the AgentShell process's PID where the `cloud` entry's pidfile says.

    The agent (`java ... com.cloud.agent.AgentShell`, started by _run.sh) writes no pidfile, so
    vrmonitor finds it by its command line and records it, after it started, which is what the
    pidfile rules of services/detect.py expect. When no agent runs the pidfile stays as it was:
    it names a dead process, and the service is judged down."""
    pidfile = paths.run_dir / AGENT_PIDFILE
    try:
        current = int(pidfile.read_text().strip() or 0)
    except (OSError, ValueError):
        current = 0
    if current and has_argument(current, AGENT_CLASS, proc):
        return
    pids = agent_pids(proc)
    if pids and pids[0] != current:
        try:
            atomic_write(pidfile, f"{pids[0]}\n")
        except OSError as exc:
            LOG.error("cannot write %s: %s", pidfile, exc)


class ServiceSource:
    """The services to watch: /etc/monitor.conf on a router (or an unknown role), the role's own
    list on the secondary storage VM and the console proxy VM, which get no monitor.conf.

    The role is read at every load: the boot arguments may arrive after the daemon started."""

    def __init__(self, paths: Paths):
        self._paths = paths
        self._conf = MonitorConfSource(paths.monitor_conf)

    def role(self) -> str | None:
        return read_cmdline(self._paths).role

    def load(self) -> tuple[tuple, object]:
        role = self.role()
        services = role_services(role, self._paths)
        if services is None:
            return self._conf.load()
        refresh_agent_pidfile(self._paths)
        return services, ("role", role)

    def refresh_agent(self) -> None:
        """Between loads, so that a restarted agent is seen within a second (daemon job)."""
        if role_services(self.role(), self._paths) is not None:
            refresh_agent_pidfile(self._paths)

    def recovery_init(self, init):
        """The init system a recovery job of a system VM uses: its assess() records the agent's
        PID after asking, so that a unit its own Restart= just started again is seen as running
        (the job then leaves it alone instead of restarting it a second time)."""
        if role_services(self.role(), self._paths) is None:
            return init
        return _RefreshingInit(init, self.refresh_agent)


class _RefreshingInit:
    def __init__(self, init, refresh):
        self._init = init
        self._refresh = refresh

    def __getattr__(self, name):
        return getattr(self._init, name)

    def assess(self, service: str):
        assessment = self._init.assess(service)
        self._refresh()
        return assessment
