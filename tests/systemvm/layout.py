"""The guest laid out as a CloudStack virtual router, with the vrmonitor .deb installed.

Two phases, for speed:
- `prepare(files)` runs before boot and writes every file the router's services and CloudStack
  read (guest.GuestFiles), so ssh, dnsmasq, haproxy, apache2 and cron start with the router's
  configuration under their own Debian units at boot, and nothing has to be restarted;
- `install(guest)` runs after boot and does what needs the running system, as a template build
  and CloudStack's boot scripts do: `dpkg -i` of the .deb that ./scripts/build-deb built,
  `vrmonitor compat install`, and the daemon started (by the package's postinst, else by
  `systemctl start`; `Router.postinst_started` says which).

Addresses are the test bed's (198.18.0.0/15), not a real router's link-local control address.
The management server's key pair is made per test run (`make_key`); the guest's sshd takes it
for root on port 3922, as the systemvm template's sshd does for /root/.ssh/id_rsa.cloud.
"""

import json
import os
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from tests.systemvm.guest import GUEST_IP, HOST_FOLDER_IN_GUEST, MGMT_IP, Guest, GuestError

PROJECT = Path(__file__).resolve().parents[2]
SSH_PORT = "3922"
HOSTNAME = "r-4-VM"
HAPROXY_PORT = 8080
SERVICES = ("ssh", "dnsmasq", "haproxy", "apache2")  # the Debian units of the four watched services
READY_WITHIN = 30.0

# /etc/monitor.conf as CsMonitor.setupMonitorConfigFile writes it (contract 2.1): the MS's four
# default services, one `[section]` and three key=value lines each, no blank lines.
MONITORED = (
    # section, processname, servicename (the Debian unit), pidfile (the MS database's values)
    ("ssh", "sshd", "ssh", "/var/run/sshd.pid"),
    ("dhcp", "dnsmasq", "dnsmasq", "/var/run/dnsmasq/dnsmasq.pid"),
    ("loadbalancing", "haproxy", "haproxy", "/var/run/haproxy.pid"),
    ("webserver", "apache2", "apache2", "/var/run/apache2/apache2.pid"),
)
BASIC_INTERVAL, ADVANCED_INTERVAL = 3, 10  # minutes, CloudStack's defaults for the two runs


def monitor_conf() -> str:
    lines = []
    for section, process, service, pidfile in MONITORED:
        lines += [f"[{section}]", f"processname={process}", f"servicename={service}", f"pidfile={pidfile}"]
    return "\n".join(lines) + "\n"


def cron_process() -> str:
    """/etc/cron.d/process as CsMonitor.setupHealthCheckCronJobs writes it (contract 2.2)."""
    return ("SHELL=/bin/bash\n"
            "PATH=/usr/local/sbin:/usr/local/bin:/sbin:/bin:/usr/sbin:/usr/bin\n"
            f"*/{BASIC_INTERVAL} * * * * root /usr/bin/python3 /root/monitorServices.py basic\n"
            f"*/{ADVANCED_INTERVAL} * * * * root /usr/bin/python3 /root/monitorServices.py advanced\n")


def health_checks_data() -> str:
    """/root/health_checks_data.json as CsMonitor.setupHealthChecksConfigFile writes it (3.2).

    Only addresses of the test bed: the gateway is the management namespace's end of the veth."""
    data = {
        "health_checks_basic_run_interval": BASIC_INTERVAL,
        "health_checks_advanced_run_interval": ADVANCED_INTERVAL,
        "health_checks_enabled": True,
        "excluded_health_checks": [],
        "health_checks_config": {
            "gateways": f"gatewaysIps={MGMT_IP} ",
            "systemThresholds": "minDiskNeeded=100.0,maxCpuUsage=100.0,maxMemoryUsage=100.0;",
        },
    }
    return json.dumps(data, ensure_ascii=False, indent=4)


def cmdline(**changed: str) -> str:
    """/var/cache/cloud/cmdline: a KVM router's boot arguments (contract 10.2), one line;
    `changed` replaces or adds tokens (another system VM type: test_system_vm_roles.py)."""
    tokens = {
        "template": "domP", "name": HOSTNAME, "type": "router", "eth0ip": GUEST_IP,
        "eth0mask": "255.255.255.0", "localgw": MGMT_IP, "mgmtcidr": "198.18.61.0/24",
        "dns1": GUEST_IP, "domain": "cs.test", "disable_rp_filter": "true", "host": MGMT_IP,
        "port": "8250", "redundant_router": "false", **changed,
    }
    return " ".join(f"{k}={v}" for k, v in tokens.items()) + "\n"


SSHD_CONF = f"""\
# The systemvm template's sshd: root by key only, on port 3922 of the control address.
# (sshd_config includes this first; the first value of a keyword wins.)
Port {SSH_PORT}
ListenAddress {GUEST_IP}
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UseDNS no
PidFile /run/sshd.pid
"""

# DNS on the router's own addresses only. DHCP is left off: its socket would be the wildcard
# 0.0.0.0:67 (inside the guest's namespace, but still not "own address only"); a test that
# needs leases adds a dhcp-range.
DNSMASQ_CONF = f"""\
listen-address=127.0.0.1,{GUEST_IP}
bind-interfaces
no-resolv
domain=cs.test
local=/cs.test/
"""

HAPROXY_CFG = f"""\
# A router's load balancer, minimal: one TCP frontend on the guest address, to apache2.
global
    log /dev/log local0
    maxconn 256

defaults
    log global
    mode tcp
    timeout connect 5s
    timeout client 30s
    timeout server 30s

frontend lb_{GUEST_IP.replace('.', '_')}_{HAPROXY_PORT}
    bind {GUEST_IP}:{HAPROXY_PORT}
    default_backend web

backend web
    server apache2 127.0.0.1:80
"""

APACHE_PORTS = f"""\
# The router's web server (user data, password server) on loopback and the guest address.
Listen 127.0.0.1:80
Listen {GUEST_IP}:80
"""


def prepare(files, public_key: str, boot_args: dict[str, str] | None = None) -> None:
    """Every router file, written into the guest's root before it boots. With `boot_args`
    (type=secstorage, ...) the guest is that system VM: its own cmdline and none of the files
    the management server writes on routers only (contract 10.1)."""
    files.write("/etc/hostname", f"{HOSTNAME}\n")
    files.write("/etc/hosts", f"127.0.0.1\tlocalhost\n{GUEST_IP}\t{HOSTNAME}\n")
    # The management server's key, sshd on 3922.
    files.mkdir("/root/.ssh", 0o700)
    files.write("/root/.ssh/authorized_keys", public_key, 0o600)
    files.write("/etc/ssh/sshd_config.d/00-cloudstack.conf", SSHD_CONF)
    # The router's services.
    files.write("/etc/dnsmasq.d/cloud.conf", DNSMASQ_CONF)
    files.write("/etc/haproxy/haproxy.cfg", HAPROXY_CFG)
    files.write("/etc/apache2/ports.conf", APACHE_PORTS)
    files.write("/etc/apache2/conf-available/servername.conf", f"ServerName {HOSTNAME}\n")
    files.symlink("/etc/apache2/conf-enabled/servername.conf", "../conf-available/servername.conf")
    # What CloudStack's configuration scripts write.
    if boot_args is None:
        files.write("/etc/monitor.conf", monitor_conf())
        files.write("/root/health_checks_data.json", health_checks_data())
        files.write("/etc/cron.d/process", cron_process())
    files.write("/var/cache/cloud/cmdline", cmdline(**(boot_args or {})))
    files.write("/var/cache/cloud/boot_up_done", "")


def newest_deb() -> Path:
    """The newest vrmonitor_*.deb in dist/ (./scripts/build-deb puts it there), or the one
    $VRMONITOR_TEST_DEB names (a .deb built elsewhere, e.g. from a clean checkout)."""
    if os.environ.get("VRMONITOR_TEST_DEB"):
        return Path(os.environ["VRMONITOR_TEST_DEB"])
    debs = sorted((PROJECT / "dist").glob("vrmonitor_*.deb"), key=lambda p: p.stat().st_mtime)
    if not debs:
        raise GuestError(f"no vrmonitor_*.deb in {PROJECT / 'dist'}: run ./scripts/build-deb first")
    return debs[-1]


def make_key(folder: Path) -> Path:
    """A fresh key pair for the management server; the private key's path."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    key = folder / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "vrmonitor-systemvm-ms",
                    "-f", str(key)], check=True, capture_output=True)
    return key


@dataclass
class Router:
    """A booted, laid-out guest and the management server's side of it."""
    guest: Guest
    key: Path
    deb: Path
    postinst_started: bool = False  # vrmonitor was active right after `dpkg -i`
    # Each router unit as the boot left it, before vrmonitor was installed: (ActiveState,
    # MainPID). The bed's own promise, independent of what the daemon does afterwards.
    before_vrmonitor: dict[str, tuple[str, str]] = field(default_factory=dict)
    dpkg_output: str = ""
    timings: dict[str, float] = field(default_factory=dict)

    def ssh(self, command: str, timeout: float = 90) -> subprocess.CompletedProcess:
        """router_proxy.sh's call (contract 1): one command string for the router's login shell,
        from the management namespace. Host key checks off and nothing written to the host's
        known_hosts; no ssh configuration of the host is read."""
        return self.guest.mgmt(
            ["ssh", "-F", "/dev/null", "-p", SSH_PORT, "-q", "-o", "StrictHostKeyChecking=no",
             "-o", "UserKnownHostsFile=/dev/null", "-o", "BatchMode=yes", "-o", "ConnectTimeout=5",
             "-i", str(self.key), f"root@{GUEST_IP}", command], timeout=timeout)

    def unit_state(self, unit: str) -> str:
        return self.guest.run(["systemctl", "is-active", unit]).stdout.strip()

    def unit_show(self, unit: str, *properties: str) -> tuple[str, ...]:
        """The unit's properties, in the order asked (`systemctl show` prints its own order)."""
        shown = self.guest.run(["systemctl", "show", unit, *(f"--property={p}" for p in properties)]).stdout
        values = dict(line.split("=", 1) for line in shown.splitlines() if "=" in line)
        return tuple(values.get(p, "") for p in properties)


def wait(condition, what: str, within: float = READY_WITHIN, describe=lambda: "",
         error: type[Exception] = AssertionError):
    """condition()'s first true value, polled every 0.1 s; after `within` s, `error` saying
    what was awaited and what describe() shows (a journal, say)."""
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.1)
    raise error(f"not within {within} s: {what}\n{describe()}")


def _wait(condition, what: str, guest: Guest):
    """wait() while the bed sets the guest up: a GuestError with the guest's journal."""
    return wait(condition, what, describe=lambda: guest.run(
        ["journalctl", "-b", "--no-pager", "-n", "40"]).stdout, error=GuestError)


def install(guest: Guest, key: Path, deb: Path) -> Router:
    """The four services checked active after boot, then dpkg -i, compat install, the daemon
    started; then wait until it and cron are active and the management server's key works on
    port 3922."""
    router = Router(guest, key, deb)
    started = time.monotonic()
    for unit in SERVICES:
        _wait(lambda: router.unit_state(unit) == "active", f"{unit} active after boot", guest=guest)
        router.before_vrmonitor[unit] = router.unit_show(unit, "ActiveState", "MainPID")
    done = guest.run(["dpkg", "-i", f"{HOST_FOLDER_IN_GUEST}/{deb.name}"], timeout=180, check=True)
    router.dpkg_output = done.stdout + done.stderr
    router.postinst_started = router.unit_state("vrmonitor") == "active"
    guest.run(["vrmonitor", "compat", "install"], check=True)
    if not router.postinst_started:
        guest.run(["systemctl", "start", "vrmonitor"], check=True)
    router.timings["install"] = time.monotonic() - started
    # The four services were checked before the install; what the daemon does to them since
    # is for the tests to judge, not for the bed to wait on.
    for unit in ("cron", "vrmonitor"):
        _wait(lambda: router.unit_state(unit) == "active", f"{unit} active", guest=guest)
    _wait(lambda: router.ssh("true", timeout=15).returncode == 0,
          "ssh -p 3922 with the management server's key", guest=guest)
    router.timings["layout"] = time.monotonic() - started
    return router


def boot_router(key: Path, log=print) -> Router:
    """A booted guest, laid out as a router. The caller tears it down: `router.guest.teardown()`."""
    deb = newest_deb()
    public_key = Path(f"{key}.pub").read_text()
    guest = Guest(prepare=lambda files: prepare(files, public_key), host_files={deb.name: deb}, log=log)
    guest.boot()
    try:
        return install(guest, key, deb)
    except BaseException:
        guest.teardown()
        raise
