"""Shared fixtures: the real Debian daemons (sshd, dnsmasq, haproxy, apache2) on loopback only.

Each fixture writes the configuration that keeps its daemon on 127.0.0.1, starts it with
`service NAME start` and yields a RealDaemon. Afterwards, whatever the test did, it stops the
service, kills the processes of that name the test left behind (none existed before: the
fixture refuses to start otherwise), removes a pidfile and the runtime folders (/run/sshd, ...)
that were not there before, and restores every file it changed: the next test, and the next
run, find the machine as a fresh one. The fixtures need root (CI runs as root): without it they fail with a
message rather than skip.
"""

import errno
import os
import shutil
import signal
import socket
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import psutil
import pytest

from tests.conftest import require_root
from tests.procs import host_pids_named
from vrmonitor.system.identity import PidfileProblem, identify, is_named, read_pidfile
from vrmonitor.system.process import Completed, run

SERVICE_TIMEOUT = 60.0
READY_WITHIN = 30.0
HAPROXY_PORT = 10080

SSHD_DROPIN = "/etc/ssh/sshd_config.d/00-vrmonitor-test.conf"
DNSMASQ_DROPIN = "/etc/dnsmasq.d/vrmonitor-test.conf"
HAPROXY_CFG = "/etc/haproxy/haproxy.cfg"
APACHE_PORTS = "/etc/apache2/ports.conf"

HAPROXY_TEST_CFG = f"""\
# Written by vrmonitor's integration tests; the original is restored afterwards.
global
    daemon
    maxconn 64

defaults
    mode tcp
    timeout connect 1s
    timeout client 10s
    timeout server 10s

frontend vrmonitor_test
    bind 127.0.0.1:{HAPROXY_PORT}
    default_backend vrmonitor_test

backend vrmonitor_test
"""




def service(servicename: str, action: str, timeout: float = SERVICE_TIMEOUT) -> Completed:
    """`service NAME ACTION`; the daemons it starts are left running."""
    return run(["service", servicename, action], timeout=timeout, kill_leftovers=False)


def output_of(completed: Completed) -> str:
    return (completed.stdout + completed.stderr).decode("utf-8", "replace").strip()


@dataclass
class RealDaemon:
    """A real daemon started by a fixture: what /etc/monitor.conf would say about it."""

    processname: str
    servicename: str
    pidfile: str
    port: int
    probe: str  # probe kind, as vrmonitor.services.probes.probe() takes it
    host: str = "127.0.0.1"
    runtime: tuple[str, ...] = ()  # folders the start creates (init script, RuntimeDirectory=)
    timings: dict = field(default_factory=dict)  # seconds of the fixture's own start, stop

    def pid(self) -> int | None:
        """The PID in the pidfile, or None when it is missing or empty."""
        try:
            return read_pidfile(self.pidfile)
        except PidfileProblem:
            return None

    def running_pid(self) -> int | None:
        """The pidfile's PID when it is a live process named processname, else None."""
        pid = self.pid()
        identity = identify(pid) if pid else None
        return pid if identity and is_named(identity, self.processname) else None

    def wait_running(self, other_than: int | None = None, within: float = READY_WITHIN) -> int:
        """Wait until the pidfile names a live `processname` (not `other_than`); its PID."""
        end = time.monotonic() + within
        while True:
            pid = self.running_pid()
            if pid and pid != other_than:
                return pid
            if time.monotonic() > end:
                raise AssertionError(f"{self.servicename}: pidfile {self.pidfile} does not name "
                                     f"a running {self.processname} within {within} s "
                                     f"(it holds {self.pid()})")
            time.sleep(0.05)

    def wait_listening(self, within: float = READY_WITHIN) -> None:
        """Wait until something accepts TCP connections on host:port (dnsmasq: its TCP side)."""
        end = time.monotonic() + within
        while True:
            try:
                socket.create_connection((self.host, self.port), timeout=1).close()
                return
            except OSError as exc:
                if time.monotonic() > end:
                    raise AssertionError(f"{self.servicename}: nothing accepts on "
                                         f"{self.host}:{self.port} within {within} s: {exc}")
                time.sleep(0.05)

    def service(self, action: str) -> Completed:
        return service(self.servicename, action)


@contextmanager
def edited_file(path: str, content: str | None):
    """Replace (or with None remove) `path` for the duration; restore it exactly afterwards."""
    target = Path(path)
    try:
        original = target.read_bytes()
        status = target.stat()
    except FileNotFoundError:
        original = status = None
    try:
        if content is None:
            target.unlink(missing_ok=True)
        else:
            target.write_text(content)
        yield target
    finally:
        if original is None:
            target.unlink(missing_ok=True)
        else:
            target.write_bytes(original)
            os.chmod(target, status.st_mode & 0o7777)
            os.utime(target, ns=(status.st_atime_ns, status.st_mtime_ns))


def _refuse_if_running(processname: str, servicename: str) -> None:
    pids = host_pids_named(processname)
    if pids:
        pytest.fail(f"{processname} is already running (PIDs {' '.join(map(str, pids))}): the "
                    f"daemon tests need it stopped; stop it with `service {servicename} stop`",
                    pytrace=False)


def _refuse_if_port_taken(host: str, port: int, udp: bool = False) -> None:
    kinds = [socket.SOCK_STREAM] + ([socket.SOCK_DGRAM] if udp else [])
    for kind in kinds:
        with socket.socket(socket.AF_INET, kind) as probe_socket:
            if kind == socket.SOCK_STREAM:
                probe_socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe_socket.bind((host, port))
            except OSError as exc:
                if exc.errno != errno.EADDRINUSE:
                    raise
                pytest.fail(f"{host}:{port} is already in use; the daemon tests need it free",
                            pytrace=False)


def _kill_left_behind(processname: str) -> list[int]:
    """Kill processes named processname (there were none before the fixture); their PIDs."""
    victims = []
    for pid in host_pids_named(processname):
        try:
            process = psutil.Process(pid)
            process.send_signal(signal.SIGKILL)
            victims.append(process)
        except psutil.NoSuchProcess:
            pass
    psutil.wait_procs(victims, timeout=5)
    return [process.pid for process in victims]


@contextmanager
def started(daemon: RealDaemon, edits: dict[str, str | None]):
    """Edit the files, start the service, yield; then stop, clean up and restore."""
    require_root("the real-daemon tests", "they start sshd, dnsmasq, haproxy and apache2 through `service`")
    _refuse_if_running(daemon.processname, daemon.servicename)
    _refuse_if_port_taken(daemon.host, daemon.port, udp=daemon.probe == "dns")
    pidfile_existed = os.path.exists(daemon.pidfile)
    new_folders = [folder for folder in daemon.runtime if not os.path.lexists(folder)]
    with ExitStack() as stack:
        for path, content in edits.items():
            stack.enter_context(edited_file(path, content))
        try:
            began = time.monotonic()
            completed = daemon.service("start")
            assert completed.ok, (f"service {daemon.servicename} start failed "
                                  f"(status {completed.returncode}): {output_of(completed)}")
            daemon.wait_running()
            daemon.wait_listening()
            daemon.timings["start"] = time.monotonic() - began
            yield daemon
        finally:
            began = time.monotonic()
            stopped = daemon.service("stop")
            daemon.timings["stop"] = time.monotonic() - began
            leftovers = _kill_left_behind(daemon.processname)
            if not pidfile_existed and os.path.exists(daemon.pidfile):
                os.unlink(daemon.pidfile)
            for folder in new_folders:
                shutil.rmtree(folder, ignore_errors=True)
            if not stopped.ok and not leftovers:
                # Worth knowing, but not a reason to hide the test's own result.
                print(f"service {daemon.servicename} stop: {output_of(stopped)}")


# Each real daemon, and the file edits that bind it to loopback (restored afterwards).
SSHD_EDITS = {SSHD_DROPIN: "# vrmonitor integration tests\nListenAddress 127.0.0.1\nPort 22\n"}
DNSMASQ_EDITS = {DNSMASQ_DROPIN: "# vrmonitor integration tests\ninterface=lo\n"
                                 "bind-interfaces\nno-resolv\nport=53\n"}
HAPROXY_EDITS = {HAPROXY_CFG: HAPROXY_TEST_CFG}
APACHE_EDITS = {APACHE_PORTS: "# vrmonitor integration tests\nListen 127.0.0.1:80\n"}


def sshd() -> RealDaemon:
    return RealDaemon("sshd", "ssh", "/run/sshd.pid", 22, "ssh", runtime=("/run/sshd",))


def dnsmasq() -> RealDaemon:
    return RealDaemon("dnsmasq", "dnsmasq", "/run/dnsmasq/dnsmasq.pid", 53, "dns",
                      runtime=("/run/dnsmasq",))


def haproxy() -> RealDaemon:
    return RealDaemon("haproxy", "haproxy", "/run/haproxy.pid", HAPROXY_PORT, "tcp",
                      runtime=("/run/haproxy",))


def apache() -> RealDaemon:
    return RealDaemon("apache2", "apache2", "/run/apache2/apache2.pid", 80, "http",
                      runtime=("/run/apache2", "/run/lock/apache2"))


@pytest.fixture
def real_sshd():
    """sshd on 127.0.0.1:22 (a drop-in ListenAddress; the first value wins in sshd_config)."""
    with started(sshd(), SSHD_EDITS) as daemon:
        yield daemon


@pytest.fixture
def real_dnsmasq():
    """dnsmasq answering DNS on 127.0.0.1:53 only (lo, bind-interfaces, no upstream, no DHCP).

    The Debian init script reads /etc/dnsmasq.d through CONFIG_DIR in /etc/default/dnsmasq.
    """
    with started(dnsmasq(), DNSMASQ_EDITS) as daemon:
        yield daemon


@pytest.fixture
def real_haproxy():
    """haproxy with a minimal configuration listening on 127.0.0.1:10080 (TCP mode)."""
    with started(haproxy(), HAPROXY_EDITS) as daemon:
        yield daemon


@pytest.fixture
def real_apache():
    """apache2 with the Debian site, listening on 127.0.0.1:80 only (ports.conf replaced)."""
    with started(apache(), APACHE_EDITS) as daemon:
        yield daemon


@pytest.fixture
def edit_file():
    """edit_file(path, content or None): change a file for one test; restored afterwards.

    Requested after a daemon fixture, the file is restored before the daemon is stopped.
    """
    with ExitStack() as stack:
        yield lambda path, content: stack.enter_context(edited_file(path, content))


REAL_DAEMONS = ("real_sshd", "real_dnsmasq", "real_haproxy", "real_apache")


@pytest.fixture(params=REAL_DAEMONS)
def real_daemon(request):
    """Each of the four real daemons in turn."""
    return request.getfixturevalue(request.param)
