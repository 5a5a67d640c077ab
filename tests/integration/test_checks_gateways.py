"""gateways_check.py against real gateways in network namespaces (contract 3.5, issue #4163).

The installed check runs inside a router namespace (`ip netns exec`), so its ICMP stays there.
Topology, addresses from 198.18.0.0/15 only:

    router ns  rA 198.18.1.2/24 ---- gA 198.18.1.1/24, 198.18.1.5/24   gateway ns 1: answers ping,
               (198.19.0.0/16 via 198.18.1.1)                           forwards, no route beyond
               rB 198.18.2.2/24 ---- gB 198.18.2.1/24                   gateway ns 2: ignores echo

198.18.1.9 is on-link with nobody behind it; the router has no route at all to 198.18.200.1;
198.19.255.1 is routed to gateway 1, which answers "Destination Net Unreachable".
Needs root (CI runs as root): without it the tests fail with a message rather than skip.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import require_root
from vrmonitor.checks.gateways import BACKUP_SKIP
from vrmonitor.cli import main as cli_main

pytestmark = pytest.mark.root

ANSWERS, ALSO_ANSWERS, SILENT = "198.18.1.1", "198.18.1.5", "198.18.2.1"
ABSENT, NO_ROUTE, BEYOND = "198.18.1.9", "198.18.200.1", "198.19.255.1"


# Why these tests need root, for require_root.
ROOT_NEEDED = ("the gateway tests", "they create network namespaces and send ICMP")


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True, timeout=30)


def sysctl(namespace: str, setting: str) -> None:
    subprocess.run(["ip", "netns", "exec", namespace, "sysctl", "-q", "-w", setting], check=True,
                   capture_output=True, timeout=30)


@pytest.fixture(scope="module")
def network():
    """The three namespaces; their names. Deleted (with their veths) whatever happens."""
    require_root(*ROOT_NEEDED)
    tag = f"vrmgw{os.getpid()}"
    router, first, second = f"{tag}r", f"{tag}g1", f"{tag}g2"
    created = []
    try:
        for namespace in (router, first, second):
            ip("netns", "add", namespace)
            created.append(namespace)
            ip("-n", namespace, "link", "set", "lo", "up")
        ip("link", "add", "rA", "netns", router, "type", "veth", "peer", "name", "gA",
           "netns", first)
        ip("link", "add", "rB", "netns", router, "type", "veth", "peer", "name", "gB",
           "netns", second)
        for namespace, device, addresses in ((router, "rA", ["198.18.1.2/24"]),
                                             (router, "rB", ["198.18.2.2/24"]),
                                             (first, "gA", ["198.18.1.1/24", "198.18.1.5/24"]),
                                             (second, "gB", ["198.18.2.1/24"])):
            for address in addresses:
                ip("-n", namespace, "addr", "add", address, "dev", device)
            ip("-n", namespace, "link", "set", device, "up")
        ip("-n", router, "route", "add", "198.19.0.0/16", "via", ANSWERS)
        sysctl(first, "net.ipv4.ip_forward=1")
        sysctl(first, "net.ipv4.icmp_ratelimit=0")
        sysctl(second, "net.ipv4.icmp_echo_ignore_all=1")
        yield router
    finally:
        for namespace in created:
            subprocess.run(["ip", "netns", "del", namespace], capture_output=True, timeout=30)


@pytest.fixture
def vm(tmp_path):
    root = tmp_path / "vm"
    root.mkdir()
    assert cli_main(["--root", str(root), "compat", "install"]) == 0
    return root


def set_gateways(root: Path, addresses: str) -> None:
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_enabled": True,
        "health_checks_config": {"gateways": f"gatewaysIps={addresses}"}}, indent=4))


def gateways_check(root: Path, namespace: str) -> subprocess.CompletedProcess:
    return subprocess.run(["ip", "netns", "exec", namespace,
                           str(root / "root/health_checks/gateways_check.py"), "basic"],
                          capture_output=True, text=True, cwd=root / "root",
                          env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, timeout=60)


def test_answering_gateways_pass_and_are_counted(network, vm):
    set_gateways(vm, f"{ANSWERS} ")
    done = gateways_check(vm, network)
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "All 1 gateways are reachable via ping\n", "")
    set_gateways(vm, f"{ANSWERS} {ALSO_ANSWERS} ")
    done = gateways_check(vm, network)
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "All 2 gateways are reachable via ping\n", "")


def test_a_silent_gateway_fails_with_the_list_and_why(network, vm):
    set_gateways(vm, f"{ANSWERS} {SILENT} ")
    done = gateways_check(vm, network)
    assert (done.returncode, done.stdout, done.stderr) == (
        1, f"Unreachable gateways found-\n['{SILENT}']\nexpected an echo reply from each "
           f"gateway; {SILENT}: no echo reply to 3 requests of 1 s each\n", "")


def test_absent_unrouted_and_unreachable_gateways(network, vm):
    set_gateways(vm, f"{ABSENT} {NO_ROUTE} {ANSWERS} {BEYOND} ")
    done = gateways_check(vm, network)
    assert (done.returncode, done.stderr) == (1, "")
    lines = done.stdout.split("\n")
    assert lines[:2] == ["Unreachable gateways found-", f"['{ABSENT}', '{NO_ROUTE}', '{BEYOND}']"]
    assert lines[3:] == [""]
    prefix = "expected an echo reply from each gateway; "
    assert lines[2].startswith(prefix)
    reasons = dict(part.split(": ", 1) for part in lines[2][len(prefix):].split("; "))
    # Nobody answers ARP: the kernel queues each request and drops it when resolution fails
    # (3 probes 1 s apart), or refuses the send once the neighbour is known to be absent.
    assert reasons[ABSENT] in ("no echo reply to 3 requests of 1 s each", "No route to host")
    assert reasons[NO_ROUTE] == "Network is unreachable"
    assert reasons[BEYOND] == f"Destination Net Unreachable (from {ANSWERS})"


def test_a_backup_router_skips_4163(network, vm):
    set_gateways(vm, f"{SILENT} ")
    cmdline = vm / "etc/cloudstack/cmdline.json"
    cmdline.parent.mkdir(parents=True)
    cmdline.write_text(json.dumps({"id": "cmdline", "config": {
        "redundant_router": "true", "redundant_state": "BACKUP", "redundant_primary": False}}))
    done = gateways_check(vm, network)
    assert (done.returncode, done.stdout, done.stderr) == (0, BACKUP_SKIP + "\n", "")


def test_echo_on_loopback():
    require_root(*ROOT_NEEDED)
    from vrmonitor.diagnostics.icmp import echo

    outcomes = echo(["127.0.0.1"], attempts=3, timeout=1.0)
    outcome = outcomes["127.0.0.1"]
    assert (outcome.reachable, outcome.sent, outcome.replies, outcome.error) == (True, 1, 1, None)
    assert len(outcome.rtts) == 1 and 0 <= outcome.rtts[0] < 1.0


def test_echo_refuses_what_is_not_an_ipv4_address():
    from vrmonitor.diagnostics.icmp import echo

    with pytest.raises(ValueError):
        echo(["localhost"])


def test_echo_does_not_load_scapy_all():
    code = ("import sys\nfrom vrmonitor.diagnostics.icmp import echo\n"
            "echo(['127.0.0.1'], attempts=1, timeout=0.5)\n"
            "assert 'scapy.all' not in sys.modules, 'scapy.all was imported'\n"
            "assert 'scapy.layers.inet' in sys.modules\n")
    require_root(*ROOT_NEEDED)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          cwd=Path(__file__).resolve().parents[2], timeout=60)
    assert (done.returncode, done.stderr) == (0, "")


def test_the_kernel_filter_keeps_other_identifiers_replies_out():
    require_root(*ROOT_NEEDED)
    import time

    from vrmonitor.diagnostics.icmp import EchoReply, EchoSocket

    with EchoSocket(ident=0x1111) as bystander, EchoSocket(ident=0x2222) as pinger:
        sent = pinger.send("127.0.0.1", seq=7)
        reply = pinger.receive(time.monotonic() + 2.0)
        assert isinstance(reply, EchoReply)
        assert (reply.source, reply.ident, reply.seq, reply.size) == ("127.0.0.1", 0x2222, 7, 64)
        assert reply.received >= sent
        # The reply reached the host while both sockets were open; only its owner got a copy.
        with pytest.raises(BlockingIOError):
            bystander._socket.recv(65535)
