"""The secondary storage VM and the console proxy VM under real systemd (issue 18): guests
booted with type=secstorage and type=consoleproxy in /var/cache/cloud/cmdline, no monitor.conf and
no health_checks_data.json, as the management server leaves them (contract 10.1).

The `cloud` unit is a STAND-IN: CloudStack's Java agent cannot run here. Its ExecStart is a
Python script started as `java` (a symbolic link to python3) with com.cloud.agent.AgentShell
among its arguments, which connects to a STAND-IN management server port (MGMT_IP:8250, a Python
listener in the test bed's management namespace, started and ended by the test) and holds the
connection, with the real unit's Restart=always and RestartSec=5.

Shown here: the daemon watches the role's services (ssh, apache2 on the SSVM, the agent found by
its command line) and reports the agent's crash in routerServiceMonitor.log; it writes
health_checks_data.json from [systemvm]; the health runs give the role's checks and no
router-only entry; getRouterAlerts.sh and getRouterMonitorResults.sh answer over ssh as on a
router, read by the management server's parsers; `vrmonitor status` names the role.
"""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from tests import ms_parsers
from tests.conftest import require_root
from tests.systemvm import layout
from tests.systemvm.conftest import ROOT_NEEDED, TIMINGS
from tests.systemvm.guest import GUEST_IP, MGMT_IP, Guest, GuestError

pytestmark = [pytest.mark.systemvm, pytest.mark.root]

WITHIN = 40.0
STAND_IN_AGENT = textwrap.dedent(f'''\
    # STAND-IN for CloudStack's agent (vrmonitor's tests): holds a connection to the agent port.
    import socket, sys, time
    while True:
        try:
            connection = socket.create_connection(("{MGMT_IP}", 8250), timeout=3)
        except OSError:
            time.sleep(0.5)
            continue
        connection.settimeout(None)
        while connection.recv(4096):
            pass
        connection.close()
''')
CLOUD_UNIT = textwrap.dedent('''\
    [Unit]
    Description=CloudStack agent STAND-IN (vrmonitor tests: the Java agent cannot run here)
    After=network.target

    [Service]
    ExecStart=/usr/local/bin/java /usr/local/cloud/systemvm/standin_agent.py com.cloud.agent.AgentShell zone=1
    Restart=always
    RestartSec=5

    [Install]
    WantedBy=multi-user.target
''')
STAND_IN_MS = textwrap.dedent(f'''
    # STAND-IN management server port: accepts agents and keeps their connections open.
    import socket, threading
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("{MGMT_IP}", 8250))
    listener.listen(8)
    print("ready", flush=True)
    held = []
    while True:
        held.append(listener.accept()[0])
''')
SETTINGS = '[services]\nstable_after = 2\n\n[systemvm]\nboot_grace = 0\ndns_check_name = ""\n'


def prepare(files, public_key: str, boot_args: dict[str, str]) -> None:
    layout.prepare(files, public_key, boot_args)
    files.write("/usr/local/cloud/systemvm/standin_agent.py", STAND_IN_AGENT)
    files.symlink("/usr/local/bin/java", "/usr/bin/python3")
    files.write("/etc/systemd/system/cloud.service", CLOUD_UNIT)
    files.symlink("/etc/systemd/system/multi-user.target.wants/cloud.service", "../cloud.service")


def boot(ms_key: Path, boot_args: dict[str, str]):
    """A guest of that system VM type with the .deb installed, the daemon reloaded with SETTINGS."""
    require_root(*ROOT_NEEDED)
    deb = layout.newest_deb()
    public_key = Path(f"{ms_key}.pub").read_text()
    guest = Guest(prepare=lambda files: prepare(files, public_key, boot_args),
                  host_files={deb.name: deb}, log=TIMINGS.append)
    try:
        guest.boot()
        vm = layout.install(guest, ms_key, deb)
    except (GuestError, AssertionError) as error:
        guest.teardown()
        pytest.fail(f"the system VM did not come up: {error}", pytrace=False)
    guest.path("/etc/vrmonitor/vrmonitor.toml").write_text(SETTINGS)
    guest.run(["systemctl", "reload", "vrmonitor"], check=True)
    return vm


def stand_in_ms(guest: Guest) -> subprocess.Popen:
    process = subprocess.Popen(["ip", "netns", "exec", guest.mgmt_ns, sys.executable, "-c", STAND_IN_MS],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True)
    assert process.stdout.readline().strip() == "ready"
    return process


def daemon_services(vm) -> dict:
    try:
        return json.loads(vm.guest.path("/var/lib/vrmonitor/daemon.json").read_text()).get("services", {})
    except (FileNotFoundError, ValueError):
        return {}


def all_up(vm, sections) -> bool:
    services = daemon_services(vm)
    return set(services) == set(sections) and all(s.get("state") == "up" for s in services.values())


def alert_lines(vm) -> list[str]:
    """routerServiceMonitor.log's lines after their timestamps (`[INFO] [name] text`)."""
    path = vm.guest.path("/var/log/routerServiceMonitor.log")
    if not path.exists():
        return []
    return [line.split(" ", 2)[2] for line in path.read_text().splitlines() if line]


def agent_connected(vm) -> bool:
    """The stand-in agent holds its connection to the stand-in management server's port. The
    agent's own (`java`): a health run's agent check, finding no agent connected, connects to
    the same port for a moment to say whether it is reachable."""
    done = vm.guest.run(["ss", "-Htnp", "state", "established", "dport", "=", ":8250"])
    return '(("java",' in done.stdout


def call(vm, command: str) -> ms_parsers.Answer:
    done = vm.ssh(command)
    assert done.stderr == "", done.stderr
    return ms_parsers.Answer.of(done.stdout, done.returncode)


def journal(vm) -> str:
    return vm.guest.run(["journalctl", "-b", "--no-pager", "-n", "60", "-u", "vrmonitor", "-u", "cloud"]).stdout


@pytest.fixture(scope="module")
def ssvm(ms_key):
    vm = boot(ms_key, {"type": "secstorage", "name": "s-1-VM", "eth2ip": GUEST_IP,
                       "resource": "org.apache.cloudstack.storage.resource.NfsSecondaryStorageResource"})
    ms = stand_in_ms(vm.guest)
    try:
        yield vm
    finally:
        ms.kill()
        ms.wait()
        ms.stdout.close()
        problems = vm.guest.teardown()
        assert not problems, f"teardown of the guest: {problems}"


def test_ssvm_watches_its_own_services_and_reports_the_agent(ssvm):
    layout.wait(lambda: all_up(ssvm, {"ssh", "webserver", "cloud"}),
                "ssh, webserver and cloud up in daemon.json", WITHIN, lambda: journal(ssvm))
    status = ssvm.guest.run(["vrmonitor", "status"]).stdout
    assert "role: secstorage (s-1-VM)\n" in status, status
    data = json.loads(ssvm.guest.path("/root/health_checks_data.json").read_text())
    assert data["health_checks_config"]["systemVmThresholds"] == (
        "minDaysLeft=30,urlDomain=,ioTimeout=10,dnsCheckName=,bootGrace=0;")
    # The agent crashes; its unit restarts it (Restart=always); the daemon reports it.
    first = int(ssvm.unit_show("cloud", "MainPID")[0])
    ssvm.guest.run(["kill", "-9", str(first)], check=True)
    layout.wait(lambda: int(ssvm.unit_show("cloud", "MainPID")[0] or 0) not in (0, first)
                and all_up(ssvm, {"ssh", "webserver", "cloud"}),
                "the agent back and seen up", WITHIN, lambda: journal(ssvm))
    # The unit's Restart=always repairs it (after RestartSec=5): vrmonitor reports the crash and
    # does not restart it a second time. Alerts name the process (`java`), as monitor.conf's
    # processname would on a router.
    found_down = "[INFO] [java] The process java is not running trying recover"
    found_up = "[ALERT] [java] The process detected as running"
    layout.wait(lambda: found_up in alert_lines(ssvm), "the alerts of the crash", WITHIN,
                lambda: f"{alert_lines(ssvm)}\n{daemon_services(ssvm).get('cloud')}\n{journal(ssvm)}")
    assert alert_lines(ssvm) in ([found_down, found_up], [found_up]), journal(ssvm)
    starts = ssvm.guest.run(["journalctl", "-b", "--no-pager", "-u", "cloud"]).stdout.count("Started cloud.service")
    assert starts == 2, journal(ssvm)  # at boot, and systemd's one restart after the kill
    alerts, _ = ms_parsers.router_alerts(call(ssvm, "/opt/cloud/bin/getRouterAlerts.sh 1970-01-01 00:00:00"))
    assert alerts[-1].endswith(found_up), alerts


def test_ssvm_health_results_over_ssh(ssvm):
    layout.wait(lambda: all_up(ssvm, {"ssh", "webserver", "cloud"}), "services up", WITHIN, lambda: journal(ssvm))
    layout.wait(lambda: agent_connected(ssvm), "the stand-in agent connected", WITHIN, lambda: journal(ssvm))
    failing, results = ms_parsers.health_results(call(ssvm, "/opt/cloud/bin/getRouterMonitorResults.sh true"))
    basic, advanced = results["basic"], results["advanced"]
    for service in ("ssh", "webserver", "cloud"):
        assert basic[f"{service}.service"]["success"] == "true", basic
    assert basic["systemvm_agent_check.py"]["message"] == f"Agent connected to management server {MGMT_IP}:8250"
    assert basic["secstorage_webserver_check.py"]["message"] == f"Template web server answering on {GUEST_IP}:80"
    assert basic["secstorage_mount_check.py"] == {**basic["secstorage_mount_check.py"], "success": "false",
                                                  "message": "No secondary storage is mounted under /mnt/SecStorage"}
    assert advanced["systemvm_dns_check.py"]["message"] == "No DNS check name configured, skipping"
    assert advanced["systemvm_certificate_check.py"]["message"] == "SSL is not enabled on this system VM, skipping"
    router_only = {"gateways_check.py", "dhcp_check.py", "dns_check.py", "haproxy_check.py", "iptables_check.py",
                   "router_version_check.py", "consoleproxy_listeners_check.py"}
    assert not router_only & (set(basic) | set(advanced)), results
    assert failing == ["secstorage_mount_check.py"]


@pytest.fixture(scope="module")
def cpvm(ms_key):
    vm = boot(ms_key, {"type": "consoleproxy", "name": "v-2-VM", "eth2ip": GUEST_IP, "proxy_vm": "2"})
    ms = stand_in_ms(vm.guest)
    try:
        yield vm
    finally:
        ms.kill()
        ms.wait()
        ms.stdout.close()
        problems = vm.guest.teardown()
        assert not problems, f"teardown of the guest: {problems}"


def test_cpvm_watches_ssh_and_the_agent(cpvm):
    layout.wait(lambda: all_up(cpvm, {"ssh", "cloud"}), "ssh and cloud up in daemon.json", WITHIN,
                lambda: journal(cpvm))
    assert "role: consoleproxy (v-2-VM)\n" in cpvm.guest.run(["vrmonitor", "status"]).stdout
    layout.wait(lambda: agent_connected(cpvm), "the stand-in agent connected", WITHIN, lambda: journal(cpvm))
    failing, results = ms_parsers.health_results(call(cpvm, "/opt/cloud/bin/getRouterMonitorResults.sh true"))
    basic = results["basic"]
    assert {"ssh.service", "cloud.service"} <= set(basic)
    assert "webserver.service" not in basic and "secstorage_mount_check.py" not in basic
    assert basic["systemvm_agent_check.py"]["message"] == f"Agent connected to management server {MGMT_IP}:8250"
    # No console proxy runs in the test bed (the Java proxy cannot run here); port 80 answers
    # only because the bed's layout starts apache2 on 127.0.0.1:80, as on a router.
    assert basic["consoleproxy_listeners_check.py"] == {
        **basic["consoleproxy_listeners_check.py"], "success": "false",
        "message": "Console proxy command port 8001 did not answer /cmd/getstatus: Connection refused\n"
                   "Console proxy websocket port 8080 is not listening\n"
                   "Console proxy websocket port 8080 is not allowed by iptables on eth2"}
    assert "consoleproxy_listeners_check.py" in failing
