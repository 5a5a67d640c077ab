"""vrmonitor's traceroute / traceroute6 against Debian 12's traceroute (Butskoy 2.1.2).

Both run in the host namespace of a fresh topology (tests/integration/netns.py, prefix "vra"),
case by case: the exit status, stderr and stdout must be the same apart from the round-trip
times (`  0.026 ms` -> `  <t> ms`). Kept short with -w 1 and few probes per hop.

- Name lookups use /etc/netns/<ns>/{hosts,nsswitch.conf} (`hosts: files`), which `ip netns
  exec` mounts over /etc: a lookup inside the namespace would otherwise wait 5 s for a
  resolver it cannot reach. An unknown name (`*.invalid`) then fails at once with glibc's own
  EAI_NONAME text, exactly as NXDOMAIN from a real resolver would, and the router and the far
  host get names for the runs without -n.
- The router's "network unreachable" answers are rate limited by the kernel for each source
  (a burst of 5, then one per second, whatever icmp_ratelimit says): the unrouted cases wait
  1.5 s before each run, so that each run finds one token for its first probe.

Root is required (namespaces, raw sockets): CI runs as root; without it the tests fail.
"""

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.netns import (ABSENT, FAR, FAR6, HOST, ROUTER, ROUTER6, UNROUTED,
                                     topology)

PROJECT = str(Path(__file__).resolve().parents[2])
OURS = ("import sys; from vrmonitor.diagnostics import traceroute; "
        "sys.exit(traceroute.main(sys.argv[2:], family=int(sys.argv[1])))")
TIME = re.compile(r"  \d+\.\d{3} ms")
NAMES = {ROUTER: "router.vra.test", FAR: "far.vra.test", FAR6: "far6.vra.test"}
UNROUTED6 = "fd18:99::1"  # inside the topology's ULA, routed nowhere: the router says !N
TOKEN_WAIT = 1.5


class resolver_files:
    """/etc/netns/<ns>/hosts and nsswitch.conf for the namespace's name lookups."""

    def __init__(self, namespace: str):
        self.folder = Path("/etc/netns") / namespace

    def __enter__(self):
        self.created_parent = not self.folder.parent.exists()
        self.folder.mkdir(parents=True, exist_ok=False)
        hosts = "".join(f"{address} {name}\n" for address, name in NAMES.items())
        (self.folder / "hosts").write_text(f"127.0.0.1 localhost\n{hosts}")
        (self.folder / "nsswitch.conf").write_text("hosts: files\n")
        return self

    def __exit__(self, *exc_info):
        for name in ("hosts", "nsswitch.conf"):
            (self.folder / name).unlink(missing_ok=True)
        self.folder.rmdir()
        if self.created_parent:
            try:
                self.folder.parent.rmdir()
            except OSError:
                pass  # another test run uses it now


@pytest.fixture(scope="module")
def topo(needs_root):
    with topology("vra") as topo:
        with resolver_files(topo.host):
            yield topo


def normal(stdout: str) -> str:
    return TIME.sub("  <t> ms", stdout)


def real(topo, args, family=4, **kwargs) -> subprocess.CompletedProcess:
    tool = "traceroute6" if family == 6 else "traceroute"
    return topo.run_in_host([tool, *args], **kwargs)


def ours(topo, args, family=4, **kwargs) -> subprocess.CompletedProcess:
    return topo.run_in_host([sys.executable, "-c", OURS, str(family), *args],
                            env=dict(os.environ, PYTHONPATH=PROJECT), **kwargs)


def compare(topo, *args, family=4, pause=0.0):
    """Run both (each after `pause` seconds); the same status, stderr and normalised stdout."""
    time.sleep(pause)
    theirs = real(topo, args, family)
    time.sleep(pause)
    mine = ours(topo, args, family)
    assert mine.returncode == theirs.returncode, (args, theirs, mine)
    assert mine.stderr == theirs.stderr, (args, theirs.stderr, mine.stderr)
    assert normal(mine.stdout) == normal(theirs.stdout), (args, theirs.stdout, mine.stdout)
    return theirs, mine


def lines(result) -> list[str]:
    return normal(result.stdout).splitlines()


def test_the_real_tool_is_butskoy_2_1_2():
    version = subprocess.run(["traceroute", "-V"], capture_output=True, text=True)
    assert "Modern traceroute for Linux, version 2.1.2" in version.stderr, version


def test_far_host_two_hops(topo):
    _, mine = compare(topo, "-n", "-q", "1", "-w", "1", FAR)
    assert mine.returncode == 0
    assert lines(mine) == [f"traceroute to {FAR} ({FAR}), 30 hops max, 60 byte packets",
                           f" 1  {ROUTER}  <t> ms", f" 2  {FAR}  <t> ms"]


def test_three_probes_per_hop_print_the_address_once(topo):
    _, mine = compare(topo, "-n", "-w", "1", FAR)
    assert lines(mine)[1:] == [f" 1  {ROUTER}  <t> ms  <t> ms  <t> ms",
                               f" 2  {FAR}  <t> ms  <t> ms  <t> ms"]


@pytest.mark.parametrize("method", ["-I", "-T"])
def test_icmp_echo_and_tcp_syn(topo, method):
    _, mine = compare(topo, "-n", method, "-q", "2", "-w", "1", FAR)
    assert lines(mine)[2] == f" 2  {FAR}  <t> ms  <t> ms"


def test_host_names_without_n(topo):
    _, mine = compare(topo, "-q", "1", "-w", "1", NAMES[FAR])
    assert lines(mine) == [f"traceroute to {NAMES[FAR]} ({FAR}), 30 hops max, 60 byte packets",
                           f" 1  {NAMES[ROUTER]} ({ROUTER})  <t> ms",
                           f" 2  {NAMES[FAR]} ({FAR})  <t> ms"]


def test_unrouted_network_stops_at_the_routers_n(topo):
    _, mine = compare(topo, "-n", "-q", "1", "-w", "1", UNROUTED, pause=TOKEN_WAIT)
    assert mine.returncode == 0
    assert lines(mine)[1:] == [f" 1  {ROUTER}  <t> ms !N"]


def test_absent_on_link_host_times_out(topo):
    _, mine = compare(topo, "-n", "-m", "2", "-q", "1", "-w", "1", ABSENT)
    assert mine.returncode == 0  # not reached, still 0
    assert lines(mine)[1:] == [" 1  *", " 2  *"]


def test_absent_on_link_host_is_host_unreachable_after_arp_gives_up(topo):
    # With the default 5 s wait the kernel's own "host unreachable" (after about 3 s of ARP)
    # arrives, from our own address.
    _, mine = compare(topo, "-n", "-m", "1", "-q", "1", ABSENT)
    assert re.fullmatch(rf" 1  {HOST}  \d+\.\d{{3}} ms !H", mine.stdout.splitlines()[1])


def test_first_hop(topo):
    _, mine = compare(topo, "-n", "-f", "2", "-q", "1", "-w", "1", FAR)
    assert lines(mine)[1:] == [f" 2  {FAR}  <t> ms"]


def test_max_hops(topo):
    _, mine = compare(topo, "-n", "-m", "1", "-q", "1", "-w", "1", FAR)
    assert lines(mine) == [f"traceroute to {FAR} ({FAR}), 1 hops max, 60 byte packets",
                           f" 1  {ROUTER}  <t> ms"]


@pytest.mark.parametrize("args", [
    ["-n", "-q", "2", "-w", "1", "-p", "40000", FAR],
    ["-n", "-q", "2", "-w", "1", "-N", "1", FAR],
    ["-n", "-q", "2", "-w", "1", "-z", "0.05", FAR],
    ["-n", "-q", "2", "-w", "1", "--back", FAR],
    ["-n", "-q", "1", "-w", "1", "-s", HOST, "-i", "h0", FAR],
    ["-n", "-q", "1", "-w", "1,3,10", FAR, "100"],
    ["-n", "-q", "1", "-w", "1", "-I", FAR, "10"],
    ["-nq", "1", "-w1", FAR],
    [FAR, "-n", "--queries=1", "--wait=1"],
])
def test_more_options(topo, args):
    compare(topo, *args)


def test_udp_ports_go_up_by_one_per_probe(topo):
    """A listener on the far host's 33435 swallows the second probe (TTL 2): hop 2 stays
    unanswered, the third probe's port unreachable ends the trace at hop 3."""
    listener = subprocess.Popen(
        ["ip", "netns", "exec", topo.far, sys.executable, "-c",
         "import socket, sys, time\n"
         "s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)\n"
         f"s.bind(('{FAR}', 33435))\n"
         "print('ready', flush=True)\n"
         "time.sleep(120)\n"], stdout=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready"
        _, mine = compare(topo, "-n", "-q", "1", "-w", "1", FAR)
    finally:
        listener.kill()
        listener.wait()
    assert lines(mine)[1:] == [f" 1  {ROUTER}  <t> ms", " 2  *", f" 3  {FAR}  <t> ms"]


def test_fragmentation_needed(topo):
    # A packet larger than our own link: the kernel's local error, no address.
    _, mine = compare(topo, "-n", "-F", "-q", "1", "-w", "1", FAR, "2000")
    assert lines(mine)[1:] == [" 1  *  <t> ms !F-1500"]
    # The router's far link is smaller: its "fragmentation needed" with the MTU.
    subprocess.run(["ip", "netns", "exec", topo.router, "ip", "link", "set", "r1", "mtu",
                    "1400"], check=True)
    try:
        _, mine = compare(topo, "-n", "-F", "-q", "2", "-w", "1", FAR, "1450")
        _, mine6 = compare(topo, "-n", "-F", "-q", "1", "-w", "1", FAR6, "1450", family=6)
    finally:
        subprocess.run(["ip", "netns", "exec", topo.router, "ip", "link", "set", "r1", "mtu",
                        "1500"], check=True)
    assert lines(mine)[2] == f" 2  {ROUTER}  <t> ms !F-1400  <t> ms !F-1400"
    assert lines(mine6)[2] == f" 2  {ROUTER6}  <t> ms !F-1400"


def test_traceroute6_to_the_far_host(topo):
    _, mine = compare(topo, "-n", "-q", "1", "-w", "1", FAR6, family=6)
    assert lines(mine) == [f"traceroute to {FAR6} ({FAR6}), 30 hops max, 80 byte packets",
                           f" 1  {ROUTER6}  <t> ms", f" 2  {FAR6}  <t> ms"]


@pytest.mark.parametrize("args", [
    ["-n", "-I", "-q", "2", "-w", "1", FAR6],
    ["-n", "-T", "-q", "1", "-w", "1", FAR6],
    ["-q", "1", "-w", "1", NAMES[FAR6]],
    ["-n", "-q", "1", "-w", "1", UNROUTED6],
])
def test_traceroute6_more(topo, args):
    compare(topo, *args, family=6)


def test_plain_traceroute_takes_an_ipv6_address(topo):
    compare(topo, "-n", "-q", "1", "-w", "1", FAR6)


@pytest.mark.parametrize("args", [
    ["-Z", FAR],
    ["-m"],
    ["-m", "x", FAR],
    ["-mx", FAR],
    ["-m", "0", FAR],
    ["-m", "256", FAR],
    ["-f", "5", "-m", "3", FAR],
    ["-q", "11", FAR],
    ["-w", "-1", FAR],
    ["-w", "1,2,3,4", FAR],
    ["-z", "-1", FAR],
    ["-n"],
    [FAR, "70000"],
    [FAR, "20", "30"],
    [FAR, "x"],
    ["--foo", FAR],
    ["--foo=3", FAR],
    ["--max-hops", FAR],
    ["-nq1", FAR],
    ["-p", "x", FAR],
    ["-M", "foo", FAR],
    ["-6", FAR],
    ["-s", HOST, FAR6],
    ["-s", "no-such-host.invalid", FAR],
    ["-n", "-q", "1", "no-such-host.invalid"],
    ["-m", "300", "-m", "3", "no-such-host.invalid"],
])
def test_bad_command_lines(topo, args):
    _, mine = compare(topo, *args)
    assert mine.returncode == 2 and mine.stdout == ""


def test_unresolvable_name_message(topo):
    _, mine = compare(topo, "-n", "no-such-host.invalid")
    assert mine.stderr == ("no-such-host.invalid: Name or service not known\n"
                           "Cannot handle \"host\" cmdline arg `no-such-host.invalid' on "
                           "position 1 (argc 2)\n")


@pytest.mark.parametrize("args", [
    ["-n", "-q", "1", "-w", "1", "-i", "eth9", FAR],  # UDP: after the header
    ["-n", "-q", "1", "-w", "1", "-I", "-i", "eth9", FAR],  # ICMP: before it
    ["-n", "-q", "1", "-w", "1", "-s", "198.18.1.50", FAR],
])
def test_system_call_failures_exit_1(topo, args):
    _, mine = compare(topo, *args)
    assert mine.returncode == 1


def test_traceroute6_refuses_an_ipv4_address(topo):
    _, mine = compare(topo, "-n", FAR, family=6)
    assert mine.returncode == 2
    assert mine.stderr.startswith(f"{FAR}: Address family for hostname not supported\n")


def test_help_and_no_arguments_exit_0(topo):
    for args in ([], ["--help"]):
        result = ours(topo, args)
        assert (result.returncode, result.stdout) == (0, "")
        assert result.stderr.startswith("Usage:\n  traceroute ")
        assert real(topo, args).returncode == 0
