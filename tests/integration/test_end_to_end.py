"""End to end, as the management server sees a router: SSH on port 3922, the contract paths, the MS's parsers.

    mgmt namespace (198.18.60.2)  ---veth---  router namespace (198.18.60.1)
    ssh -p 3922 ... root@198.18.60.1 "/opt/cloud/bin/<script> <args>"   (router_proxy.sh's command)

The router namespace runs its own sshd (not the system service: a temporary sshd_config, host key,
authorized key and pidfile) and the vrmonitor daemon. Both run in a private mount namespace where
the contract folders (/opt/cloud/bin, /root, /var/log, /var/lib/vrmonitor, /etc/monitor.conf,
/etc/hosts, /etc/init.d) are bind mounts of a temporary router root, so the scripts the MS calls
are at their real paths while every file lives in the temporary root. Where a mount point does not
exist on this machine (/opt/cloud, /var/lib/vrmonitor, /etc/monitor.conf), its nearest existing
parent is covered by an overlay whose upper layer is temporary, so the machine's own folders are
never written. The daemon runs inside that namespace, as on a VM: its `service NAME restart` must
find the test's init script, which exists only there (/etc/init.d is the temporary one).

The watched service is a `sleep` started through that init script; its pidfile is in the
temporary root. Every process is stopped by PID, every mount disappears with its namespace,
and the host's mount table is compared before and after.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from datetime import datetime
from pathlib import Path

import pytest

from tests import ms_parsers
from tests.conftest import require_root
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
ROUTER_IP, MGMT_IP = "198.18.60.1", "198.18.60.2"
SSH_PORT = "3922"
SERVICE = "vrmonitor-e2e-svc"
FAILING_CHECK = "e2e_failing_check.sh"
FAILING_MESSAGE = "e2e: this check always fails"
WITHIN = 40.0

# The small launcher that owns the router's mount namespace. It runs as
# `nsenter --net=<router netns> unshare --mount --propagation private python -c LAUNCHER SPEC`
# (no forks: its PID is the namespace's first process), mounts, prints "ready", and holds the
# namespace until its stdin closes. The mounts are private: none propagates to the host.
LAUNCHER = r"""
import json, os, subprocess, sys

spec = json.load(open(sys.argv[1]))

def mount(*args):
    done = subprocess.run(["mount", *args], capture_output=True, text=True)
    if done.returncode:
        sys.exit(f"mount {' '.join(args)}: {done.stderr.strip()}")

def nearest_existing(path):
    while not os.path.lexists(path):
        path = os.path.dirname(path)
    return path

# Pass 1: an overlay over the nearest existing parent of each missing mount point.
missing = [t for _, t, _ in spec["binds"] if not os.path.lexists(t)]
parents = sorted({nearest_existing(t) for t in missing})
parents = [p for p in parents if not any(p != q and p.startswith(q.rstrip("/") + "/") for q in parents)]
for n, parent in enumerate(parents):
    upper, work = (os.path.join(spec["scratch"], f"overlay{n}", part) for part in ("upper", "work"))
    os.makedirs(upper), os.makedirs(work)
    mount("-t", "overlay", "overlay", "-o", f"lowerdir={parent},upperdir={upper},workdir={work}", parent)
# Pass 2: the mount points (created inside the overlays), then the binds, parents first.
for source, target, kind in sorted(spec["binds"], key=lambda b: b[1]):
    if kind == "dir":
        os.makedirs(target, exist_ok=True)
    elif not os.path.lexists(target):
        os.makedirs(os.path.dirname(target), exist_ok=True)
        open(target, "a").close()
    mount("--bind", source, target)
print("ready", flush=True)
sys.stdin.read()
"""




def run(argv, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run(argv, check=False, capture_output=True, text=True, timeout=timeout, **kwargs)


def checked(argv, **kwargs) -> subprocess.CompletedProcess:
    done = run(argv, **kwargs)
    assert done.returncode == 0, f"{argv}: exit {done.returncode}: {done.stderr.strip()}"
    return done


def host_mounts(own_prefix: str) -> list[str]:
    """The host's mount table (mount point, source, type), without IDs.

    Other test runs add and delete their own network namespaces (/run/netns/NAME) meanwhile:
    only those named with `own_prefix` count."""
    entries = []
    for line in Path("/proc/self/mountinfo").read_text().splitlines():
        fields = line.split()
        if fields[4].startswith("/run/netns/") and not fields[4].startswith(f"/run/netns/{own_prefix}"):
            continue
        entries.append(f"{fields[4]} {fields[3]} {line.split(' - ', 1)[1]}")
    return sorted(entries)


def processes_in_namespace(ns_inode: str) -> list[int]:
    """PIDs of processes whose mount namespace is `ns_inode` (as readlink prints it)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.readlink(f"/proc/{entry}/ns/mnt") == ns_inode:
                    pids.append(int(entry))
            except OSError:
                continue
    return pids


def kill_pid(pid: int | None, sig=signal.SIGKILL) -> None:
    if pid:
        try:
            os.kill(pid, sig)
        except ProcessLookupError:
            pass


class Router:
    """The router: namespaces, temporary root, sshd, the daemon; and the MS's side of SSH."""

    def __init__(self, scratch: Path):
        self.scratch = scratch
        self.root = scratch / "vm"
        self.tag = tag = f"vre{os.getpid() % 100000}"
        self.router_ns, self.mgmt_ns = f"{tag}-r", f"{tag}-m"
        self.namespaces: list[str] = []
        self.launcher: subprocess.Popen | None = None
        self.sshd: subprocess.Popen | None = None
        self.daemon: subprocess.Popen | None = None
        self.mnt_ns: str | None = None
        self.key = scratch / "ssh/id_ed25519"
        self.pidfile = self.root / "run" / f"{SERVICE}.pid"
        self.mark = f"VRE_E2E_MARK={tag}-{time.time_ns()}"
        # Contract paths this machine lacks: they must stay absent outside the router.
        self.absent_on_host = [path for path in ("/opt/cloud", "/etc/monitor.conf", "/var/lib/vrmonitor",
                                                 f"/etc/init.d/{SERVICE}") if not os.path.lexists(path)]

    # --- the router's files ------------------------------------------------------------
    def build_root(self) -> None:
        for folder in ("", "root", "root/health_checks", "etc", "etc/vrmonitor", "var/log",
                       "var/lib/vrmonitor", "run"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / folder, 0o755)
        os.chmod(self.scratch, 0o755)
        checked([sys.executable, "-m", "vrmonitor", "--root", str(self.root), "compat", "install"],
                env=ENV)
        (self.root / "etc/monitor.conf").write_text(
            f"[e2esvc]\nprocessname=sleep\nservicename={SERVICE}\npidfile={self.pidfile}\n")
        (self.root / "etc/hosts").write_text(f"127.0.0.1\tlocalhost\n{ROUTER_IP}\tr-4-VM\n")
        # stable_after = 0: the test kills the service twice within seconds as two separate
        # failures; with the default (60 s) the second is a crash loop (tests/faults/test_crash_loop.py).
        (self.root / "etc/vrmonitor/vrmonitor.toml").write_text(
            "[services]\nverify_interval = 2\nstable_after = 0\n")
        (self.root / "root/health_checks_data.json").write_text(json.dumps({
            "health_checks_basic_run_interval": 3,
            "health_checks_advanced_run_interval": 10,
            "health_checks_enabled": True,
            "excluded_health_checks": [],
            "health_checks_config": {
                "systemThresholds": "minDiskNeeded=1.0,maxCpuUsage=100.0,maxMemoryUsage=100.0;"},
        }, indent=4))
        check = self.root / "root/health_checks" / FAILING_CHECK
        check.write_text(f'#!/bin/sh\n[ "$1" = basic ] || exit 0\necho "{FAILING_MESSAGE}"\nexit 1\n')
        check.chmod(0o755)
        # /etc/init.d inside the router: only the test's service.
        initd = self.scratch / "init.d"
        initd.mkdir()
        script = initd / SERVICE
        script.write_text(f"""#!/bin/sh
# The end-to-end test's service: a sleep with a pidfile in the temporary root.
PIDFILE={self.pidfile}
case "$1" in
  start) env {self.mark} start-stop-daemon --start --quiet --background --make-pidfile \\
           --pidfile "$PIDFILE" --exec /usr/bin/sleep -- 86400 ;;
  stop) start-stop-daemon --stop --quiet --oknodo --retry 5 --pidfile "$PIDFILE" --exec /usr/bin/sleep
        rm -f "$PIDFILE" ;;
  restart) "$0" stop && "$0" start ;;
  status) start-stop-daemon --status --pidfile "$PIDFILE" --exec /usr/bin/sleep ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
""")
        script.chmod(0o755)

    def binds(self) -> list[list[str]]:
        """(source in the temporary root, contract path, dir|file) for the router's mount namespace."""
        return [[str(self.root / "opt/cloud/bin"), "/opt/cloud/bin", "dir"],
                [str(self.root / "root"), "/root", "dir"],
                [str(self.root / "var/log"), "/var/log", "dir"],
                [str(self.root / "var/lib/vrmonitor"), "/var/lib/vrmonitor", "dir"],
                [str(self.root / "etc/monitor.conf"), "/etc/monitor.conf", "file"],
                [str(self.root / "etc/hosts"), "/etc/hosts", "file"],
                [str(self.scratch / "init.d"), "/etc/init.d", "dir"],
                # sshd's privilege separation folder, which ssh's start creates (RuntimeDirectory=
                # or the init script): a fresh machine has none, and the host's is not touched.
                [str(self.privsep), "/run/sshd", "dir"]]

    # --- network ----------------------------------------------------------------------------
    def build_network(self) -> None:
        for ns in (self.router_ns, self.mgmt_ns):
            checked(["ip", "netns", "add", ns])
            self.namespaces.append(ns)
            self.in_ns(ns, "ip", "link", "set", "lo", "up")
        checked(["ip", "link", "add", "vre-m0", "netns", self.mgmt_ns, "type", "veth",
                 "peer", "vre-r0", "netns", self.router_ns])
        for ns, dev, address in ((self.mgmt_ns, "vre-m0", MGMT_IP), (self.router_ns, "vre-r0", ROUTER_IP)):
            self.in_ns(ns, "ip", "addr", "add", f"{address}/24", "dev", dev)
            self.in_ns(ns, "ip", "link", "set", dev, "up")
        self.in_ns(self.router_ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")

    @staticmethod
    def in_ns(ns: str, *argv: str) -> subprocess.CompletedProcess:
        return checked(["nsenter", f"--net=/run/netns/{ns}", *argv])

    # --- processes in the router ----------------------------------------------------------
    @property
    def privsep(self) -> Path:
        return self.scratch / "sshd-privsep"

    def start_launcher(self) -> None:
        self.privsep.mkdir(mode=0o755, exist_ok=True)
        os.chmod(self.privsep, 0o755)  # sshd wants it root's and writable by root only
        spec = self.scratch / "mounts.json"
        spec.write_text(json.dumps({"scratch": str(self.scratch / "mnt"), "binds": self.binds()}))
        self.launcher = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{self.router_ns}", "unshare", "--mount",
             "--propagation", "private", sys.executable, "-c", LAUNCHER, str(spec)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env=ENV)
        line = self.launcher.stdout.readline()
        if line != "ready\n":
            self.launcher.stdin.close()
            raise AssertionError(f"mount launcher: {line!r} {self.launcher.stderr.read()}")
        self.mnt_ns = os.readlink(f"/proc/{self.launcher.pid}/ns/mnt")
        assert self.mnt_ns != os.readlink("/proc/self/ns/mnt")

    def inside(self, *argv: str) -> list[str]:
        """argv run inside the router (its network and mount namespaces)."""
        return ["nsenter", f"--target={self.launcher.pid}", "--mount", "--net", *argv]

    def start_sshd(self) -> None:
        ssh = self.scratch / "ssh"
        ssh.mkdir(mode=0o700)
        checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vrmonitor-e2e", "-f", str(self.key)])
        checked(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(ssh / "host_ed25519")])
        shutil.copy(f"{self.key}.pub", ssh / "authorized_keys")
        config = ssh / "sshd_config"
        config.write_text("\n".join([
            f"ListenAddress {ROUTER_IP}", f"Port {SSH_PORT}",
            f"HostKey {ssh / 'host_ed25519'}", f"PidFile {ssh / 'sshd.pid'}",
            f"AuthorizedKeysFile {ssh / 'authorized_keys'}",
            "PermitRootLogin prohibit-password", "PubkeyAuthentication yes",
            "PasswordAuthentication no", "KbdInteractiveAuthentication no", "UsePAM no",
            "StrictModes no", "PrintMotd no", "UseDNS no",
            "Subsystem sftp /usr/lib/openssh/sftp-server", ""]))
        checked(self.inside("/usr/sbin/sshd", "-t", "-f", str(config)))
        self.sshd = subprocess.Popen(self.inside("/usr/sbin/sshd", "-D", "-e", "-f", str(config)),
                                     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, text=True, env=ENV)
        wait_for(lambda: self.ssh("true").returncode == 0, "sshd accepts the key on port 3922", within=WITHIN,
                 alive=lambda: self._alive(self.sshd, "sshd"))

    def start_service(self) -> int:
        checked(self.inside("service", SERVICE, "start"), env=ENV)
        return wait_for(self.service_pid, "the service's pidfile", within=WITHIN)

    def service_pid(self) -> int | None:
        """The pidfile's PID when it is a live `sleep` this test started (marked environment)."""
        try:
            pid = int(self.pidfile.read_text().strip())
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
            stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (OSError, ValueError):
            return None
        return pid if self.mark.encode() in environ and stat[0] != "Z" else None

    def start_daemon(self) -> None:
        self.daemon = subprocess.Popen(
            self.inside(sys.executable, "-m", "vrmonitor", "--root", str(self.root), "run", "--foreground"),
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=ENV)

    def daemon_alive(self) -> None:
        self._alive(self.daemon, "vrmonitor run")

    @staticmethod
    def _alive(process: subprocess.Popen, what: str) -> None:
        if process.poll() is not None:
            raise AssertionError(f"{what} exited {process.returncode}: {process.stderr.read()}")

    def state(self) -> dict:
        try:
            return json.loads((self.root / "var/lib/vrmonitor/daemon.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def journal(self) -> list[dict]:
        path = self.root / "var/lib/vrmonitor/alerts/journal.jsonl"
        return [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []

    def log_lines(self) -> list[str]:
        path = self.root / "var/log/routerServiceMonitor.log"
        return [line for line in path.read_text().splitlines() if line] if path.exists() else []

    # --- the management server's side ------------------------------------------------------
    def ssh(self, command: str, timeout: float = 90) -> subprocess.CompletedProcess:
        """router_proxy.sh's ssh: one command string, re-split by the router's login shell."""
        return subprocess.run(
            ["nsenter", f"--net=/run/netns/{self.mgmt_ns}",
             "ssh", "-p", SSH_PORT, "-q", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-i", str(self.key), f"root@{ROUTER_IP}", command],
            check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=timeout,
            start_new_session=True, env=ENV)

    def script(self, name: str, *args: str) -> tuple[str, ms_parsers.Answer]:
        """/opt/cloud/bin/<name> <args> over SSH: its stdout, and what the KVM agent hands to
        the MS (stderr merged in). Exit 0 (the MS's success) and nothing on stderr, always."""
        done = self.ssh(" ".join([f"/opt/cloud/bin/{name}", *args]))
        assert (done.returncode, done.stderr) == (0, ""), \
            f"{name} {' '.join(args)}: exit {done.returncode}: {done.stderr}"
        return done.stdout, ms_parsers.Answer.of(done.stdout + done.stderr, done.returncode)

    # --- teardown ----------------------------------------------------------------------------
    def stop(self) -> list[str]:
        """Stop everything by PID and delete the namespaces; what had to be forced."""
        forced = []
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
                forced.append("daemon")
        if self.launcher is not None and self.launcher.poll() is None:
            stopped = run(self.inside("service", SERVICE, "stop"), env=ENV)
            if stopped.returncode:
                forced.append(f"service stop: {stopped.stderr.strip()}")
        kill_pid(self.service_pid())
        if self.sshd is not None and self.sshd.poll() is None:
            self.sshd.send_signal(signal.SIGTERM)
            try:
                self.sshd.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.sshd.kill()
                self.sshd.wait()
                forced.append("sshd")
        if self.launcher is not None:
            if self.launcher.poll() is None:
                self.launcher.stdin.close()
                try:
                    self.launcher.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    self.launcher.kill()
                    self.launcher.wait()
                    forced.append("launcher")
            for stream in (self.launcher.stdout, self.launcher.stderr):
                stream.close()
        if self.mnt_ns is not None:
            # Whatever still runs in the router's mount namespace was started by this test
            # (the service's sleep, an SSH session): ended by PID, and reported.
            for pid in processes_in_namespace(self.mnt_ns):
                forced.append(f"pid {pid} in the router namespace")
                kill_pid(pid)
        for ns in reversed(self.namespaces):
            run(["ip", "netns", "delete", ns])
        return forced


@pytest.fixture
def router():
    require_root("the end-to-end test", "network and mount namespaces, sshd on port 3922")
    scratch = Path(tempfile.mkdtemp(prefix="vrmonitor-e2e-"))
    r = Router(scratch)
    mounts_before = host_mounts(r.tag)
    try:
        r.build_root()
        r.build_network()
        r.start_launcher()
        r.start_sshd()
        yield r
    finally:
        forced = r.stop()
        shutil.rmtree(scratch, ignore_errors=True)
        mounts_after = host_mounts(r.tag)
        stray = [ns for ns in run(["ip", "netns", "list"]).stdout.split() if ns in r.namespaces]
    # Outside finally: a failed test keeps its own message; these are checked after a pass.
    assert mounts_after == mounts_before, "the host's mount table changed"
    assert not stray, f"namespaces left: {stray}"
    assert not scratch.exists()
    assert forced == [], f"had to be forced: {forced}"


def test_the_management_server_polls_alerts_results_and_diagnostics_over_ssh(router):
    r = router
    # The mounts are the router's alone: the host sees none of them.
    host_table = "\n".join(host_mounts(r.tag))
    assert str(r.scratch) not in host_table and "/opt/cloud" not in host_table
    for path in r.absent_on_host:
        assert not os.path.lexists(path), f"{path} appeared on the host"
    # Inside the router the contract paths are the temporary root's files.
    listing = r.ssh("cd && pwd && ls /opt/cloud/bin && cat /etc/monitor.conf")
    assert listing.returncode == 0, listing.stderr
    assert listing.stdout.startswith("/root\n")
    assert "getRouterAlerts.sh\n" in listing.stdout and "cleanup.sh\n" in listing.stdout
    assert listing.stdout.endswith((r.root / "etc/monitor.conf").read_text())

    first = r.start_service()
    r.start_daemon()
    for ns in ("mnt", "net"):  # the daemon runs in the router, as on a VM
        # nsenter enters the namespaces, then execs the daemon: wait for it, do not race it.
        router_ns = os.readlink(f"/proc/{r.launcher.pid}/ns/{ns}")
        wait_for(lambda: os.readlink(f"/proc/{r.daemon.pid}/ns/{ns}") == router_ns,
                 f"the daemon in the router's {ns} namespace", within=WITHIN, alive=r.daemon_alive)
    wait_for(lambda: r.state().get("services", {}).get("e2esvc", {}).get("state") == "up",
             "the daemon sees the service up", within=WITHIN, alive=r.daemon_alive)

    # --- health results: the daemon's first runs, fetched with `false` --------------------------
    basic, advanced = r.root / "root/basic_monitor_results.json", r.root / "root/advanced_monitor_results.json"
    wait_for(lambda: basic.exists() and advanced.exists(), "the daemon's first basic and advanced runs",
             within=WITHIN, alive=r.daemon_alive)
    fetched, fetched_answer = r.script("getRouterMonitorResults.sh", "false")
    expected = "FAILING CHECKS:\n" + (r.root / "root/basic_failing_health_checks").read_text() + "\n"
    if (r.root / "root/advanced_failing_health_checks").exists():
        expected += (r.root / "root/advanced_failing_health_checks").read_text() + "\n"
    expected += ('MONITOR RESULTS:\n{"basic":\n' + basic.read_text() + '\n,"advanced":\n'
                 + advanced.read_text() + "\n}\n")
    assert fetched == expected  # the files, verbatim
    failing, results = ms_parsers.health_results(fetched_answer)
    assert failing == [FAILING_CHECK]
    assert results["basic"][FAILING_CHECK]["success"] == "false"
    assert results["basic"][FAILING_CHECK]["message"] == FAILING_MESSAGE
    assert results["basic"]["e2esvc.service"]["success"] == "true"
    assert results["basic"]["e2esvc.service"]["message"] == "service is running"
    for name in ("cpu_usage_check.py", "memory_usage_check.py", "disk_space_check.py"):
        assert results["basic"][name]["success"] == "true", results["basic"][name]
    assert FAILING_CHECK not in results["advanced"]
    assert {"dhcp_check.py", "dns_check.py", "haproxy_check.py", "iptables_check.py"} <= set(results["advanced"])

    # --- alerts: nothing yet; a kill arrives in the next poll exactly once ---------------------
    last_timestamp = "1970-01-01 00:00:00"  # the MS's first poll ever
    answer, agent = r.script("getRouterAlerts.sh", last_timestamp)
    assert answer == "No Alerts\n"
    assert ms_parsers.router_alerts(agent) == ([], None)

    for round_ in (1, 2):
        seen = len(r.journal())
        os.kill(first, signal.SIGKILL)  # the service dies inside the router
        recovered = f"[INFO] [{SERVICE}] The process {SERVICE} is recovered successfully "
        wait_for(lambda seen=seen, recovered=recovered: len(r.journal()) >= seen + 2
                 and r.journal()[-1]["line"].endswith(recovered),
                 "the daemon's recovery alerts", within=WITHIN, alive=r.daemon_alive)
        first = wait_for(r.service_pid, "the service restarted by the daemon", within=WITHIN)
        new_lines = r.log_lines()[-2:]
        assert [line.split(" ", 2)[2] for line in new_lines] == [
            "[INFO] [sleep] The process sleep is not running trying recover", recovered]
        assert r.log_lines() == [record["line"] for record in r.journal()]
        answer, agent = r.script("getRouterAlerts.sh", last_timestamp)
        assert answer == "".join(line + "\\n" for line in new_lines) + "\n"
        alerts, timestamp = ms_parsers.router_alerts(agent)
        assert alerts == new_lines, f"round {round_}"
        assert timestamp == new_lines[-1].split(",")[0]
        last_timestamp = timestamp  # op_router_monitoring_services.last_alert_timestamp
        again, agent = r.script("getRouterAlerts.sh", last_timestamp)
        assert again == "No Alerts\n", f"round {round_}: delivered twice: {again!r}"
        assert ms_parsers.router_alerts(agent) == ([], None)

    # --- `true`: a fresh run of both kinds, synchronously -------------------------------------
    before = time.time()
    _, fresh = r.script("getRouterMonitorResults.sh", "true")
    failing, results = ms_parsers.health_results(fresh)
    assert failing == [FAILING_CHECK]
    for kind in ("basic", "advanced"):
        started = datetime.fromisoformat(results[kind]["lastRun"]["start"]).timestamp()
        assert started >= before - 0.001, f"{kind} was not run fresh"
    assert int(results["basic"][FAILING_CHECK]["lastUpdate"]) >= int(before * 1000)
    assert results["basic"]["e2esvc.service"] == {
        "success": "true", "lastUpdate": results["basic"]["e2esvc.service"]["lastUpdate"],
        "lastRunDuration": "0.0", "message": "service is running, was restarted"}

    # --- runDiagnostics: the envelope the MS splits on && --------------------------------------
    envelope, agent = r.script("diagnostics.py", "ping", MGMT_IP)
    api = ms_parsers.diagnostics(agent)
    stdout = api["stdout"]
    assert (api["stderr"], api["exitcode"]) == ("", "0"), envelope
    assert stdout.startswith(f"PING {MGMT_IP} ({MGMT_IP}) 56(84) bytes of data.\n")
    assert "4 packets transmitted, 4 received, 0% packet loss" in stdout
    assert re.fullmatch(r"(?s).*&&\n&&\n0\n", envelope), envelope

    # --- getDiagnosticsData: zip in /root, copied as the KVM host does, then cleanup.sh ---------
    printed, agent = r.script("get_diagnostics_files.py", "iptables", "/etc/hosts")
    path = ms_parsers.diagnostics_zip(agent)  # the MS removes every newline
    assert printed == path + "\n"
    home = r.root / "root"
    assert re.fullmatch(re.escape(str(home)) + r"/diagnostics_files_\d{8}-\d{6}(-\d+)?\.zip", path), path
    assert Path(path).is_file()
    name = Path(path).name
    copied = r.scratch / "secondary-storage" / name
    copied.parent.mkdir()
    # The KVM host's copy; inside the router /root/<name> is the same file (bind mount).
    scp = subprocess.run(["nsenter", f"--net=/run/netns/{r.mgmt_ns}", "scp", "-P", SSH_PORT, "-q",
                          "-o", "StrictHostKeyChecking=no", "-o", "UserKnownHostsFile=/dev/null",
                          "-i", str(r.key), f"root@{ROUTER_IP}:/root/{name}", str(copied)],
                         check=False, stdin=subprocess.DEVNULL, capture_output=True, text=True,
                         timeout=60, start_new_session=True, env=ENV)
    assert scp.returncode == 0, scp.stderr
    assert copied.read_bytes() == Path(path).read_bytes()
    with zipfile.ZipFile(copied) as archive:
        assert sorted(archive.namelist()) == ["fileinfo.txt", "hosts", "iptables.log"]
        assert archive.read("hosts") == (r.root / "etc/hosts").read_bytes()
        assert archive.read("fileinfo.txt").decode().splitlines()[:2] == ["iptables.log", "/etc/hosts"]
    assert r.script("cleanup.sh", path)[0] == f"Deleting diagnostics zip file {path}\n"
    assert not Path(path).exists()
    assert r.script("cleanup.sh", path)[0] == f"File {path} not found in vm \n"

    assert r.daemon.poll() is None
