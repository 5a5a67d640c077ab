"""The advanced network checks through their installed scripts, on real inputs.

* dhcp/dns: the sample dhcphosts.txt and hosts files (the router's formats) are first shown to
  be what Debian's dnsmasq reads: `dnsmasq --test` parses every dhcphosts line as a dhcp-host
  option, then a dnsmasq started in a test network namespace reads both files without a
  complaint and answers the VMs' names with their addresses. Then the checks run on them.
* haproxy: every configuration the check sees is accepted by `haproxy -c -f`.
* iptables: DNAT rules made with `iptables -t nat` inside a test network namespace; the
  installed script runs there through `ip netns exec`, with cron's PATH.
Namespaces are named vrmt-chk-<pid>-<n>, use addresses from 198.18.0.0/15 only, and are deleted
afterwards; the only processes ended are the dnsmasq each test started. Needs root (CI runs as
root): without it the tests fail with a message rather than skip.
"""

import itertools
import json
import os
import select
import shutil
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.conftest import require_root
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths

DATA = Path(__file__).resolve().parents[1] / "data"
SBIN_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
CRON_PATH = "/usr/bin:/bin"  # what cron gives the checks


def tool(name: str) -> str:
    return shutil.which(name, path=SBIN_PATH) or name


IP, IPTABLES, DNSMASQ, HAPROXY = (tool(name) for name in ("ip", "iptables", "dnsmasq", "haproxy"))
CHECKS = ("dhcp_check.py", "dns_check.py", "haproxy_check.py", "iptables_check.py")
SKIPS = {
    "dhcp_check.py": "No VMs running data available, skipping",
    "dns_check.py": "No VMs running data available, skipping",
    "haproxy_check.py": "No data provided to check, skipping",
    "iptables_check.py": "No port forwarding rules provided to check, skipping",
}
SAMPLE_VMS = ("vmName=vm-1,macAddress=02:00:4c:5f:00:01,ip=198.19.1.10,dhcp=true,dns=true;"
              "vmName=vm-2,macAddress=02:00:4c:5f:00:02,ip=198.19.1.11,dhcp=true,dns=true;"
              "vmName=vm-1,macAddress=02:00:7a:3b:00:05,ip=198.19.2.10,dhcp=true,dns=true;")
A15_VM = "vmName=vm-1,macAddress=02:00:4c:5f:00:01,ip=10.1.1.10"


# Why these tests need root, for require_root.
ROOT_NEEDED = ("the network check tests", "network namespaces, iptables, dnsmasq, haproxy -c")


def cmd(*argv: str, timeout: float = 30) -> str:
    """Run a command the test needs; its output, or a failure showing what it said."""
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}: status {done.returncode}: " \
                                 f"{done.stdout}{done.stderr}"
    return done.stdout + done.stderr


@pytest.fixture
def vm(tmp_path):
    """A router root with every entry point and built-in check installed (compat install)."""
    require_root(*ROOT_NEEDED)
    root = tmp_path / "vm"
    for folder in ("root", "etc/haproxy"):
        (root / folder).mkdir(parents=True)
    install(Paths(root))
    return root


def data(root: Path, **config: str) -> None:
    (root / "root/health_checks_data.json").write_text(json.dumps(
        {"health_checks_enabled": True, "health_checks_config": config}, indent=4))


def put(root: Path, vm_path: str, text: str | None) -> None:
    target = root / vm_path.lstrip("/")
    if text is None:
        target.unlink(missing_ok=True)
    else:
        target.write_text(text)


def check(root: Path, name: str, *args: str, netns: str | None = None) -> tuple[int, str]:
    """The installed check run as the runner does (cwd /root, cron's PATH): (status, stdout)."""
    script = str(root / "root/health_checks" / name)
    argv = [IP, "netns", "exec", netns, script, *args] if netns else [script, *args]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=root / "root",
                          env={"PATH": CRON_PATH}, timeout=60)
    assert done.stderr == "", done.stderr
    assert str(root) not in done.stdout, "messages name contract paths, not the relocated root"
    return done.returncode, done.stdout


_numbers = itertools.count()


@contextmanager
def namespace():
    """A new network namespace with lo up; deleted afterwards whatever happened."""
    require_root(*ROOT_NEEDED)
    name = f"vrmt-chk-{os.getpid()}-{next(_numbers)}"
    cmd(IP, "netns", "add", name)
    try:
        cmd(IP, "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run([IP, "netns", "delete", name], capture_output=True, timeout=30)
    assert name not in cmd(IP, "netns", "list")


# ---- every script: silent for the other kind, skip message without data ----------------------

@pytest.mark.parametrize("name", CHECKS)
def test_installed_scripts_act_only_for_advanced(name, vm):
    text = (vm / "root/health_checks" / name).read_text()
    assert text.startswith(f"#!{sys.executable}\n") and repr(str(vm)) in text
    for args in ((), ("basic",), ("advance",)):
        assert check(vm, name, *args) == (0, ""), args
    assert check(vm, name, "advanced") == (0, SKIPS[name] + "\n")
    data(vm, gateways="gatewaysIps=198.18.0.1 ")
    for args in ((), ("basic",)):
        assert check(vm, name, *args) == (0, ""), args
    assert check(vm, name, "advanced") == (0, SKIPS[name] + "\n")


# ---- dhcp and dns on files dnsmasq reads -----------------------------------------------------

RESOLVE = r"""
import socket, struct, sys
server, name = sys.argv[1], sys.argv[2]
query = struct.pack(">HHHHHH", 0x5eed, 0x0100, 1, 0, 0, 0)
query += b"".join(bytes([len(p)]) + p.encode() for p in name.split(".")) + b"\0"
query += struct.pack(">HH", 1, 1)
with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
    s.settimeout(5)
    s.sendto(query, (server, 53))
    reply = s.recv(4096)
answers = struct.unpack(">H", reply[6:8])[0]
at = len(query)
for _ in range(answers):
    at += 2 if reply[at] & 0xC0 == 0xC0 else reply.index(b"\0", at) + 1 - at
    kind, _, _, size = struct.unpack(">HHIH", reply[at:at + 10])
    at += 10
    if kind == 1:
        print(socket.inet_ntoa(reply[at:at + 4]))
    at += size
"""


def dnsmasq_options(tmp_path: Path, dhcphosts: Path, hosts: Path) -> list[str]:
    return [f"--dhcp-hostsfile={dhcphosts}", f"--addn-hosts={hosts}",
            "--dhcp-range=198.19.1.0,static", "--dhcp-range=198.19.2.0,static",
            "--no-resolv", "--no-hosts", "--bind-interfaces", "--interface=guest0",
            "--pid-file=", f"--dhcp-leasefile={tmp_path / 'leases'}", "--user=root"]


def assert_dnsmasq_test_accepts(tmp_path: Path, dhcphosts: Path, hosts: Path) -> None:
    """`dnsmasq --test`: it does not open the hosts files, so each dhcphosts line is also
    given as the dhcp-host option it stands for (dnsmasq parses both the same way)."""
    lines = [line.strip() for line in dhcphosts.read_text().splitlines()
             if line.strip() and not line.startswith("#")]
    conf = tmp_path / "syntax.conf"
    conf.write_text("".join(f"dhcp-host={line}\n" for line in lines)
                    + f"dhcp-hostsfile={dhcphosts}\naddn-hosts={hosts}\n")
    said = cmd(DNSMASQ, "--test", f"--conf-file={conf}")
    assert "syntax check OK" in said


@contextmanager
def dnsmasq_serving(tmp_path: Path, dhcphosts: Path, hosts: Path):
    """dnsmasq in a test namespace (guest0: 198.19.1.1/24, 198.19.2.1/24) serving the files.

    Yields (namespace, log lines up to the moment both files were read)."""
    with namespace() as ns:
        cmd(IP, "-n", ns, "link", "add", "guest0", "type", "veth", "peer", "name", "guest1")
        for address in ("198.19.1.1/24", "198.19.2.1/24"):
            cmd(IP, "-n", ns, "addr", "add", address, "dev", "guest0")
        for device in ("guest0", "guest1"):
            cmd(IP, "-n", ns, "link", "set", device, "up")
        conf = tmp_path / "dnsmasq.conf"
        conf.write_text("# vrmonitor network check tests\n")
        process = subprocess.Popen(
            [IP, "netns", "exec", ns, DNSMASQ, "--keep-in-foreground", "--log-facility=-",
             f"--conf-file={conf}", *dnsmasq_options(tmp_path, dhcphosts, hosts)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        try:
            yield ns, read_log_until(process, [f"read {hosts} - ", f"read {dhcphosts}"])
        finally:
            process.terminate()
            process.wait(timeout=10)
            process.stdout.close()


def read_log_until(process: subprocess.Popen, wanted: list[str], within: float = 20) -> list[str]:
    log, end = [], time.monotonic() + within
    while not all(any(w in line for line in log) for w in wanted):
        remaining = end - time.monotonic()
        assert remaining > 0 and process.poll() is None, \
            f"dnsmasq did not read its files: {''.join(log)}"
        if select.select([process.stdout], [], [], remaining)[0]:
            log.append(process.stdout.readline())
    return log


def resolve(ns: str, name: str) -> set[str]:
    said = cmd(IP, "netns", "exec", ns, sys.executable, "-c", RESOLVE, "198.19.1.1", name)
    return set(said.split())


@pytest.mark.parametrize("hosts_sample", ["hosts", "hosts-equivalent"])
def test_dhcp_and_dns_on_files_dnsmasq_serves(hosts_sample, vm, tmp_path):
    dhcphosts, hosts = DATA / "dhcphosts.txt", DATA / hosts_sample
    assert_dnsmasq_test_accepts(tmp_path, dhcphosts, hosts)
    with dnsmasq_serving(tmp_path, dhcphosts, hosts) as (ns, log):
        complaints = [line for line in log if "bad" in line or "at line" in line
                      or "failed" in line]
        assert complaints == []
        # It answers every VM name from the hosts file, as the dns check reads it.
        assert resolve(ns, "vm-1") == {"198.19.1.10", "198.19.2.10"}
        assert resolve(ns, "vm-2") == {"198.19.1.11"}
        assert resolve(ns, "vm-9") == set()
    data(vm, virtualMachines=SAMPLE_VMS)
    put(vm, "/etc/dhcphosts.txt", dhcphosts.read_text())
    put(vm, "/etc/hosts", hosts.read_text())
    assert check(vm, "dhcp_check.py", "advanced") == (0, "All 3 VMs are present in dhcphosts.txt\n")
    assert check(vm, "dns_check.py", "advanced") == (0, "All 3 VMs are present in /etc/hosts\n")


def test_dnsmasq_test_parses_the_lines(tmp_path):
    """The control for assert_dnsmasq_test_accepts: a bad dhcphosts line is refused."""
    require_root(*ROOT_NEEDED)
    bad = tmp_path / "dhcphosts.txt"
    bad.write_text((DATA / "dhcphosts.txt").read_text() + "02:00:zz:5f:00:09,198.19.1.19,vm-9\n")
    with pytest.raises(AssertionError, match="bad hex constant"):
        assert_dnsmasq_test_accepts(tmp_path, bad, DATA / "hosts")


def test_a15(vm, tmp_path):
    dhcphosts, hosts = tmp_path / "dhcphosts.txt", tmp_path / "hosts"
    dhcphosts.write_text("02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite\n")
    hosts.write_text("10.1.1.10\tvm-1\n")
    assert_dnsmasq_test_accepts(tmp_path, dhcphosts, hosts)
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/dhcphosts.txt", dhcphosts.read_text())
    put(vm, "/etc/hosts", hosts.read_text())
    assert check(vm, "dhcp_check.py", "advanced") == (0, "All 1 VMs are present in dhcphosts.txt\n")
    assert check(vm, "dns_check.py", "advanced") == (0, "All 1 VMs are present in /etc/hosts\n")

    put(vm, "/etc/dhcphosts.txt", "")
    status, out = check(vm, "dhcp_check.py", "advanced")
    assert status == 1
    assert out.startswith("Missing elements in dhcphosts.txt - \n02:00:4c:5f:00:01 10.1.1.10 vm-1\n")
    assert out.splitlines()[2] == ("02:00:4c:5f:00:01 10.1.1.10 vm-1: expected a line with this "
                                   "MAC, IP and name; found no line with this MAC, IP or name")

    put(vm, "/etc/dhcphosts.txt", dhcphosts.read_text())
    data(vm, virtualMachines=A15_VM + ";vmName=vm-2,macAddress=02:00:4c:5f:00:02,ip=10.1.1.11,"
                                      "dhcp=false,dns=false;")
    assert check(vm, "dhcp_check.py", "advanced") == (0, "All 1 VMs are present in dhcphosts.txt\n")
    assert check(vm, "dns_check.py", "advanced") == (0, "All 1 VMs are present in /etc/hosts\n")


def test_missing_files(vm):
    data(vm, virtualMachines=A15_VM, haproxyData="maxconn=4096,sourcePortStart=22,"
         "sourcePortEnd=22,sourceIp=198.18.0.22,destPortStart=22,destPortEnd=22,"
         "algorithm=source,vmIps=198.19.1.11")
    assert check(vm, "dhcp_check.py", "advanced") == (1, (
        "Missing elements in dhcphosts.txt - \n02:00:4c:5f:00:01 10.1.1.10 vm-1\n"
        "02:00:4c:5f:00:01 10.1.1.10 vm-1: expected a line with this MAC, IP and name; "
        "found no /etc/dhcphosts.txt (the file does not exist)\n"))
    assert check(vm, "dns_check.py", "advanced") == (1, (
        "Missing entries for VMs in /etc/hosts -\n10.1.1.10 vm-1\n"
        "10.1.1.10 vm-1: expected a line with this IP and name; "
        "found no /etc/hosts (the file does not exist)\n"))
    assert check(vm, "haproxy_check.py", "advanced") == (1, (
        "Unable to read config file /etc/haproxy/haproxy.cfg: the file does not exist\n"))


# ---- haproxy on configurations haproxy accepts ------------------------------------------------

RULE_80 = ("sourcePortStart=80,sourcePortEnd=80,sourceIp=198.18.0.21,destPortStart=80,"
           "destPortEnd=80,algorithm=roundrobin,protocol=tcp,stickiness=None,"
           "keepAliveEnabled=false,vmIps=198.19.1.10 198.19.1.11")
RULE_8080 = ("sourcePortStart=8080,sourcePortEnd=8080,sourceIp=198.18.0.21,destPortStart=8080,"
             "destPortEnd=8080,algorithm=leastconn,protocol=tcp,stickiness=LbCookie,"
             "keepAliveEnabled=false,vmIps=198.19.1.10 198.19.1.11")
RULE_22 = ("sourcePortStart=22,sourcePortEnd=22,sourceIp=198.18.0.22,destPortStart=22,"
           "destPortEnd=22,algorithm=source,protocol=tcp,stickiness=SourceBased,"
           "keepAliveEnabled=false,vmIps=198.19.1.11")
GLOBAL_RECORD = ("global.maxconn=4096,global.maxpipes=1024,default.timeout.connect=5000,"
                 "default.timeout.server=50000,default.timeout.client=50000")
OLD_STYLE = ";".join(f"maxconn=4096,{rule}" for rule in (RULE_80, RULE_8080, RULE_22)) + ";"
NEW_STYLE = ";".join((GLOBAL_RECORD, RULE_80, RULE_8080, RULE_22)) + ";"
SAMPLE_CFG = (DATA / "haproxy.cfg").read_text()
STICKY_8080 = ("\tcookie lbcooki_1309737213_8080 insert indirect nocache \n\tmode http\n"
               "\toption httpclose\n")
SERVER_80_1 = "\tserver 198_18_0_21-80_1 198.19.1.11:80 check\n"
SECTION_22 = SAMPLE_CFG[SAMPLE_CFG.index("listen 198_18_0_22-22"):]


def no_blank_lines(cfg: str) -> str:
    return "".join(line.replace("\t", "    ") + "\n" for line in cfg.splitlines() if line.strip())


HAPROXY_CASES = [
    # (id, records, edits of the sample configuration, expected message, exit status)
    ("sample, maxconn per rule", OLD_STYLE, [], "All checks pass", 0),
    ("sample, global record", NEW_STYLE, [], "All checks pass", 0),
    ("records without sourceIp", f"{GLOBAL_RECORD};lb.something=1;{RULE_22}", [],
     "All checks pass", 0),
    ("no blank lines", NEW_STYLE, [no_blank_lines], "All checks pass", 0),
    ("global maxconn", NEW_STYLE, [("maxconn 4096", "maxconn 2000")],
     "global maxconn mismatch occured. Expected 4096 but found 2000", 1),
    ("wrong balance", NEW_STYLE, [("balance leastconn", "balance source")],
     "Incorrect balance method for listen 198_18_0_21-8080. Expected leastconn but found source",
     1),
    ("wrong bind", NEW_STYLE, [("bind 198.18.0.21:80\n", "bind 198.18.0.21:8000\n")],
     "Incorrect bind string found. Expected 198.18.0.21:80 but found 198.18.0.21:8000.", 1),
    ("missing server", NEW_STYLE, [(SERVER_80_1, "")],
     "Missing load balancing for 198.19.1.11:80. Expected a server 198.19.1.11:80 in listen "
     "198_18_0_21-80 but found servers 198.19.1.10:80", 1),
    ("no servers", NEW_STYLE,
     [("\tserver 198_18_0_22-22_0 198.19.1.11:22 check\n", "")],
     "Missing load balancing for 198.19.1.11:22. Expected a server 198.19.1.11:22 in listen "
     "198_18_0_22-22 but found no server lines", 1),
    ("LbCookie in tcp mode", NEW_STYLE, [(STICKY_8080, "")],
     "Expected HTTP mode but not found in listen 198_18_0_21-8080: found mode tcp (from "
     "defaults)", 1),
    ("AppCookie in tcp mode", RULE_22.replace("SourceBased", "AppCookie"), [],
     "Expected HTTP mode but not found in listen 198_18_0_22-22: found mode tcp (from "
     "defaults)", 1),
    ("port 80 without keep-alive in tcp mode", RULE_80,
     [("\tmode http\n\toption httpclose\n\t \nlisten 198_18_0_21-8080", "\t \nlisten "
                                                                        "198_18_0_21-8080")],
     "Expected HTTP mode but not found in listen 198_18_0_21-80: found mode tcp (from "
     "defaults)", 1),
    ("missing section", NEW_STYLE, [(SECTION_22, "")],
     "Missing section for load balancing listen 198_18_0_22-22; found no section for "
     "198.18.0.22", 1),
    ("transparent rule", RULE_22 + ",transparent=true",
     [("listen 198_18_0_22-22\n\tbind 198.18.0.22:22\n",
       "frontend 198_18_0_22-22\n\tbind 198.18.0.22:22\n\tdefault_backend 198_18_0_22-22-backend"
       "\n\t \nbackend 198_18_0_22-22-backend\n")],
     "All checks pass", 0),
]


@pytest.mark.parametrize("records, edits, message, status",
                         [case[1:] for case in HAPROXY_CASES], ids=[c[0] for c in HAPROXY_CASES])
def test_haproxy_on_configurations_haproxy_accepts(records, edits, message, status, vm, tmp_path):
    cfg = SAMPLE_CFG
    for edit in edits:
        edited = edit(cfg) if callable(edit) else cfg.replace(*edit)
        assert edited != cfg, edit
        cfg = edited
    candidate = tmp_path / "haproxy.cfg"
    candidate.write_text(cfg)
    said = cmd(HAPROXY, "-c", "-f", str(candidate))
    assert "Configuration file is valid" in said
    data(vm, haproxyData=records)
    put(vm, "/etc/haproxy/haproxy.cfg", cfg)
    assert check(vm, "haproxy_check.py", "advanced") == (status, message + "\n")


# ---- iptables on real DNAT rules in a namespace -----------------------------------------------

PF_22 = ("sourceIp=198.18.0.20,sourcePortStart=22,sourcePortEnd=22,destIp=198.19.1.10,"
         "destPortStart=22,destPortEnd=22")
PF_RANGE = ("sourceIp=198.18.0.20,sourcePortStart=2000,sourcePortEnd=2005,destIp=198.19.1.11,"
            "destPortStart=3000,destPortEnd=3005")
# As the router's CsForwardingRules writes them (public interface omitted).
RULE_SPECS = {
    ("PREROUTING", "22"): "-d 198.18.0.20/32 -p tcp -m tcp --dport 22 -j DNAT "
                          "--to-destination 198.19.1.10:22",
    ("OUTPUT", "22"): "-d 198.18.0.20/32 -p tcp -m tcp --dport 22 -j DNAT "
                      "--to-destination 198.19.1.10:22",
    ("PREROUTING", "range"): "-d 198.18.0.20/32 -p tcp -m tcp --dport 2000:2005 -j DNAT "
                             "--to-destination 198.19.1.11:3000-3005",
    ("OUTPUT", "range"): "-d 198.18.0.20/32 -p tcp -m tcp --dport 2000:2005 -j DNAT "
                         "--to-destination 198.19.1.11:3000-3005",
}
MISSING_PREROUTING_22 = (
    "Missing port forwarding rules in Iptables-\n"
    " ['PREROUTING', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']\n"
    "PREROUTING: expected a rule with -d 198.18.0.20 --dport 22 --to-destination "
    "198.19.1.10:22; found ")


def nat(ns: str, action: str, chain: str, spec: str) -> None:
    cmd(IP, "netns", "exec", ns, IPTABLES, "-t", "nat", action, chain, *spec.split())


def test_iptables_on_real_rules(vm):
    data(vm, portForwarding=f"{PF_22};{PF_RANGE};")
    with namespace() as ns:
        for (chain, _), spec in RULE_SPECS.items():
            nat(ns, "-A", chain, spec)
        assert check(vm, "iptables_check.py", "advanced", netns=ns) == (
            0, "Found all entries (count 2) in iptables\n")
        assert check(vm, "iptables_check.py", "basic", netns=ns) == (0, "")

        nat(ns, "-D", "PREROUTING", RULE_SPECS["PREROUTING", "22"])
        assert check(vm, "iptables_check.py", "advanced", netns=ns) == (1, (
            MISSING_PREROUTING_22 + "-A PREROUTING -d 198.18.0.20/32 -p tcp -m tcp --dport "
            "2000:2005 -j DNAT --to-destination 198.19.1.11:3000-3005\n"))

        # A rule the reference's substring search counted: port 2222 contains "--dport 22".
        decoy = RULE_SPECS["PREROUTING", "22"].replace("--dport 22", "--dport 2222")
        nat(ns, "-I", "PREROUTING", decoy)
        status, out = check(vm, "iptables_check.py", "advanced", netns=ns)
        assert status == 1 and out.startswith(MISSING_PREROUTING_22 + "-A PREROUTING -d "
                                              "198.18.0.20/32 -p tcp -m tcp --dport 2222 ")


def test_iptables_nothing_in_the_namespace(vm):
    data(vm, portForwarding=PF_22)
    with namespace() as ns:
        assert check(vm, "iptables_check.py", "advanced", netns=ns) == (1, (
            "Missing port forwarding rules in Iptables-\n"
            " ['PREROUTING', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']\n"
            "['OUTPUT', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']\n"
            "PREROUTING: expected a rule with -d 198.18.0.20 --dport 22 --to-destination "
            "198.19.1.10:22; found no PREROUTING rule for 198.18.0.20 or to 198.19.1.10\n"
            "OUTPUT: expected a rule with -d 198.18.0.20 --dport 22 --to-destination "
            "198.19.1.10:22; found no OUTPUT rule for 198.18.0.20 or to 198.19.1.10\n"))
