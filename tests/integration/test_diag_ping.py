"""vrmonitor's ping and ping6 against Debian's iputils ping (3:20221126), side by side.

Each case runs the real `ping`/`ping6` and then vrmonitor's (vrmonitor.diagnostics.ping.main
through a small `-c` runner under this interpreter) in the host namespace of a test topology
(tests/integration/netns.py, prefix "vrp"), and asks for the same exit status, the same stderr
and the same stdout once the measured values are masked: `time=` of each reply, the rtt
numbers, ipg/ewma and `-D` stamps. The `time NNNms` of the statistics (first to last probe)
and the wall time must be close to the real tool's, so the schedule is the real one too.

Names: the host namespace resolves from a hosts file only (nsswitch.conf and hosts in
/etc/netns/<host>/, which `ip netns exec` mounts over /etc/), so "localhost" resolves as the
test wants and "no-such-host.invalid" fails without a DNS query leaving the machine.

Needs root (namespaces, raw sockets): without it the tests fail with a message.
"""

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.integration.netns import (
    ABSENT,
    FAR,
    FAR6,
    HOST,
    ROUTER,
    ROUTER6,
    UNROUTED,
    topology,
)

PROJECT = Path(__file__).resolve().parents[2]
RUNNER = ("import sys\n"
          "from vrmonitor.diagnostics.ping import main\n"
          "sys.exit(main(sys.argv[2:], int(sys.argv[1])))\n")
UNROUTED6 = "fd18:99::1"
pytestmark = [pytest.mark.root, pytest.mark.slow]


@dataclass
class Run:
    returncode: int
    stdout: str
    stderr: str
    wall: float


V4_HOSTS = "127.0.0.1\tlocalhost\n"
DEBIAN_HOSTS = "127.0.0.1\tlocalhost\n::1\t\tlocalhost ip6-localhost ip6-loopback\n"


@dataclass
class Lab:
    host: str
    router: str
    far: str
    etc: Path

    def hosts(self, content: str) -> None:
        """The host namespace's /etc/hosts from the next run on."""
        (self.etc / "hosts").write_text(content)

    def run(self, argv: list[str], namespace: str | None = None) -> Run:
        started = time.monotonic()
        done = subprocess.run(["ip", "netns", "exec", namespace or self.host, *argv], check=False,
                              capture_output=True, text=True, timeout=60, cwd=PROJECT,
                              env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                   "PYTHONPATH": str(PROJECT), "LANG": "C"})
        return Run(done.returncode, done.stdout, done.stderr, time.monotonic() - started)

    def flush_neighbours(self) -> None:
        """Forget ARP/ND state, so a run toward the absent host starts as the previous did."""
        for family in ("-4", "-6"):
            subprocess.run(["ip", "-n", self.host, family, "neigh", "flush", "all"],
                           capture_output=True, check=False)

    def both(self, tool: str, *args: str, namespace: str | None = None,
             absent: bool = False, before=None) -> tuple[Run, Run]:
        """The real tool, then vrmonitor's, with the same arguments (each after `before()`)."""
        family = "6" if tool == "ping6" else "4"
        runs = []
        for argv in ([tool, *args], [sys.executable, "-c", RUNNER, family, *args]):
            if absent:
                self.flush_neighbours()
            if before is not None:
                before()
            runs.append(self.run(argv, namespace))
        return runs[0], runs[1]

    def iptables(self, namespace: str, *args: str) -> None:
        subprocess.run(["ip", "netns", "exec", namespace, "iptables", *args], check=True,
                       capture_output=True)


def masked(text: str) -> str:
    text = re.sub(r"time=\d+(\.\d+)? ms", "time=T ms", text)
    text = re.sub(r"rtt min/avg/max/mdev = [\d.]+/[\d.]+/[\d.]+/[\d.]+ ms",
                  "rtt min/avg/max/mdev = R ms", text)
    text = re.sub(r"ipg/ewma [\d.]+/[\d.]+ ms", "ipg/ewma I ms", text)
    text = re.sub(r", time \d+ms", ", time Nms", text)
    return re.sub(r"^\[\d+\.\d{6}\] ", "[S] ", text, flags=re.MULTILINE)


def elapsed(text: str) -> int | None:
    found = re.search(r", time (\d+)ms", text)
    return int(found.group(1)) if found else None


def assert_same(real: Run, ours: Run, slack_ms: int = 150) -> None:
    context = (f"\n--- real ping ---\n{real.stdout}{real.stderr}"
               f"\n--- vrmonitor ---\n{ours.stdout}{ours.stderr}")
    assert ours.returncode == real.returncode, context
    assert ours.stderr == real.stderr, context
    assert masked(ours.stdout) == masked(real.stdout), context
    if elapsed(real.stdout) is not None:
        assert abs(elapsed(ours.stdout) - elapsed(real.stdout)) <= slack_ms, context
    # Same schedule: vrmonitor may only add its start-up (Python, scapy) to the wall time.
    assert real.wall - 0.3 <= ours.wall <= real.wall + 1.5, (real.wall, ours.wall, context)


@pytest.fixture(scope="module")
def lab():
    if os.geteuid() != 0:
        pytest.fail("the ping tests need root (network namespaces, raw ICMP sockets); "
                    "CI runs them as root", pytrace=False)
    with topology("vrp") as topo:
        etc = Path("/etc/netns") / topo.host
        etc.mkdir(parents=True, exist_ok=True)
        try:
            (etc / "nsswitch.conf").write_text("hosts: files\n")
            lab = Lab(topo.host, topo.router, topo.far, etc)
            lab.hosts(V4_HOSTS)
            yield lab
        finally:
            shutil.rmtree(etc, ignore_errors=True)


# ---- replies -----------------------------------------------------------------------------------

def test_reachable_far_host(lab):
    real, ours = lab.both("ping", "-c", "3", "-i", "0.2", FAR)
    assert_same(real, ours)
    assert ours.returncode == 0
    assert ours.stdout.startswith(f"PING {FAR} ({FAR}) 56(84) bytes of data.\n"
                                  f"64 bytes from {FAR}: icmp_seq=1 ttl=63 time=")
    assert "3 packets transmitted, 3 received, 0% packet loss, time " in ours.stdout


def test_the_router_with_options_after_the_address_and_combined(lab):
    real, ours = lab.both("ping", ROUTER, "-c3", "-i", "0.2")
    assert_same(real, ours)
    assert f"64 bytes from {ROUTER}: icmp_seq=3 ttl=64 time=" in ours.stdout


def test_quiet(lab):
    real, ours = lab.both("ping", "-q", "-c", "2", "-i", "0.2", FAR)
    assert_same(real, ours)
    assert "bytes from" not in ours.stdout


def test_data_size(lab):
    real, ours = lab.both("ping", "-c", "2", "-i", "0.2", "-s", "100", FAR)
    assert_same(real, ours)
    assert "100(128) bytes of data." in ours.stdout and "108 bytes from" in ours.stdout


def test_data_too_small_for_a_timestamp_prints_no_times(lab):
    real, ours = lab.both("ping", "-c", "2", "-i", "0.2", "-s", "0", FAR)
    assert_same(real, ours)
    assert f"8 bytes from {FAR}: icmp_seq=1 ttl=63\n" in ours.stdout
    assert ours.stdout.endswith("0% packet loss, time " + str(elapsed(ours.stdout)) + "ms\n\n")


def test_numeric_and_timestamps(lab):
    real, ours = lab.both("ping", "-n", "-D", "-c", "2", "-i", "0.2", FAR)
    assert_same(real, ours)
    stamps = re.findall(r"^\[(\d+\.\d{6})\] 64 bytes", ours.stdout, re.MULTILINE)
    assert len(stamps) == 2 and abs(float(stamps[0]) - time.time()) < 30


def test_duplicates(lab):
    """The far host's echo replies are cloned by iptables TEE: each arrives twice."""
    lab.iptables(lab.far, "-t", "mangle", "-A", "POSTROUTING", "-p", "icmp", "--icmp-type",
                 "echo-reply", "-j", "TEE", "--gateway", "198.18.2.1")
    try:
        real, ours = lab.both("ping", "-c", "3", "-i", "0.3", FAR)
    finally:
        lab.iptables(lab.far, "-t", "mangle", "-F")
    assert_same(real, ours)
    assert re.search(r"icmp_seq=1 ttl=63 time=\S+ ms \(DUP!\)\n", ours.stdout)
    assert "3 packets transmitted, 3 received, +2 duplicates, 0% packet loss" in ours.stdout


def test_localhost_by_name(lab):
    real, ours = lab.both("ping", "-c", "2", "-i", "0.2", "localhost")
    assert_same(real, ours)
    assert ours.stdout.startswith("PING localhost (127.0.0.1) 56(84) bytes of data.\n"
                                  "64 bytes from localhost (127.0.0.1): icmp_seq=1 ttl=64 time=")
    assert "--- localhost ping statistics ---" in ours.stdout


@pytest.fixture
def debian_hosts(lab):
    """Debian's default /etc/hosts: localhost is ::1 too (and first, for getaddrinfo)."""
    lab.hosts(DEBIAN_HOSTS)
    yield lab
    lab.hosts(V4_HOSTS)


def test_localhost_with_both_families_is_pinged_over_ipv6(debian_hosts):
    real, ours = debian_hosts.both("ping", "-c", "2", "-i", "0.2", "localhost")
    assert_same(real, ours)
    assert ours.stdout.startswith("PING localhost(localhost (::1)) 56 data bytes\n"
                                  "64 bytes from localhost (::1): icmp_seq=1 ttl=64 time=")


@pytest.mark.parametrize("args", [["ping6", "-c", "1", "ip6-localhost"],
                                  ["ping", "-n", "-c", "1", "localhost"],
                                  ["ping", "-4", "-c", "1", "localhost"]])
def test_names_and_families(debian_hosts, args):
    """`-4` skips ::1 and takes getaddrinfo's second answer, which has no name: ping prints
    `PING  (127.0.0.1)` and `---  ping statistics ---`."""
    real, ours = debian_hosts.both(*args)
    assert_same(real, ours)
    if "-4" in args:
        assert ours.stdout.startswith("PING  (127.0.0.1) 56(84) bytes of data.\n")


def test_the_last_reply_lost_waits_one_interval_more(lab):
    """The far host drops every third echo request: -c 3 loses the last reply; ping then
    waits max(2 x slowest round trip, interval) after the last probe, and loss is %g."""
    def drop_every_third():
        lab.iptables(lab.far, "-F", "INPUT")
        lab.iptables(lab.far, "-A", "INPUT", "-p", "icmp", "--icmp-type", "echo-request", "-m",
                     "statistic", "--mode", "nth", "--every", "3", "--packet", "2", "-j", "DROP")
    try:
        real, ours = lab.both("ping", "-c", "3", "-i", "0.4", FAR, before=drop_every_third)
    finally:
        lab.iptables(lab.far, "-F", "INPUT")
    assert_same(real, ours)
    assert "icmp_seq=3" not in ours.stdout
    assert "3 packets transmitted, 2 received, 33.3333% packet loss" in ours.stdout
    assert ours.returncode == 0
    assert 1.0 <= real.wall < 1.5


# ---- silence and ICMP errors -------------------------------------------------------------------

def test_silent_absent_host(lab):
    real, ours = lab.both("ping", "-c", "2", "-W", "1", ABSENT, absent=True)
    assert_same(real, ours)
    assert ours.returncode == 1
    assert ours.stdout.endswith("2 packets transmitted, 0 received, 100% packet loss, time "
                                f"{elapsed(ours.stdout)}ms\n\n")


def test_absent_host_unreachable_from_ourselves_with_pipe(lab):
    real, ours = lab.both("ping", "-c", "4", "-i", "0.5", ABSENT, absent=True)
    assert_same(real, ours, slack_ms=200)
    assert f"From {HOST} icmp_seq=4 Destination Host Unreachable\n" in ours.stdout
    assert ours.stdout.endswith(f"+4 errors, 100% packet loss, time {elapsed(ours.stdout)}ms\npipe 4\n")


def test_unrouted_network(lab):
    time.sleep(1)  # "network unreachable" errors are rate-limited: space them out
    real, ours = lab.both("ping", "-c", "2", "-i", "0.5", UNROUTED)
    assert_same(real, ours)
    assert f"From {ROUTER} icmp_seq=2 Destination Net Unreachable\n" in ours.stdout
    assert "2 packets transmitted, 0 received, +2 errors, 100% packet loss" in ours.stdout
    assert ours.returncode == 1


def test_unrouted_network_quiet(lab):
    time.sleep(1)
    real, ours = lab.both("ping", "-q", "-c", "2", "-i", "0.5", UNROUTED)
    assert_same(real, ours)
    assert "From" not in ours.stdout and "+2 errors" in ours.stdout


def test_ttl_exceeded_at_the_router(lab):
    real, ours = lab.both("ping", "-c", "2", "-i", "0.3", "-t", "1", FAR)
    assert_same(real, ours)
    assert f"From {ROUTER} icmp_seq=1 Time to live exceeded\n" in ours.stdout


def test_no_route_at_all_is_a_connect_error(lab):
    real, ours = lab.both("ping", "-c", "1", UNROUTED, namespace=lab.router)
    assert_same(real, ours)
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        2, "", "ping: connect: Network is unreachable\n")


def test_interrupted_prints_the_statistics(lab):
    """No -c: ping runs until SIGINT, then prints its statistics and exits 0 (replies came)."""
    runs = []
    for argv in (["ping", "-i", "0.2", FAR], [sys.executable, "-c", RUNNER, "4", "-i", "0.2", FAR]):
        process = subprocess.Popen(["ip", "netns", "exec", lab.host, *argv], cwd=PROJECT,
                                   stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                   env={"PATH": "/usr/sbin:/usr/bin:/sbin:/bin",
                                        "PYTHONPATH": str(PROJECT)})
        started = time.monotonic()
        time.sleep(1.5)  # `ip netns exec` execs the tool: the signal reaches it directly
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
        runs.append(Run(process.returncode, stdout, stderr, time.monotonic() - started))
    real, ours = runs
    context = f"{real}\n{ours}"
    assert (ours.returncode, ours.stderr) == (real.returncode, real.stderr) == (0, ""), context
    # Python's start-up eats into the 1.5 s: the number of probes may differ by one or two.
    def shape(text):
        text = re.sub(r"^64 bytes from .*\n", "", text, flags=re.MULTILINE)
        return masked(re.sub(r"^\d+ packets transmitted, \d+ received", "K packets "
                             "transmitted, K received", text, flags=re.MULTILINE))
    assert shape(ours.stdout) == shape(real.stdout), context
    assert re.search(r"^(\d+) packets transmitted, \1 received, 0% packet loss", ours.stdout,
                     re.MULTILINE), context
    assert "rtt min/avg/max/mdev" in ours.stdout


# ---- the deadline -----------------------------------------------------------------------------

def test_deadline_alone(lab):
    real, ours = lab.both("ping", "-w", "1", "-i", "0.4", FAR)
    assert_same(real, ours)
    assert ours.returncode == 0 and "3 packets transmitted, 3 received" in ours.stdout


def test_deadline_with_a_count_not_reached_is_a_failure(lab):
    real, ours = lab.both("ping", "-c", "5", "-w", "1", "-i", "0.4", FAR)
    assert_same(real, ours)
    assert ours.returncode == 1


def test_deadline_with_a_count_reached(lab):
    real, ours = lab.both("ping", "-c", "2", "-w", "5", "-i", "0.2", FAR)
    assert_same(real, ours)
    assert ours.returncode == 0 and ours.wall < 3


def test_deadline_to_the_absent_host_keeps_probing(lab):
    real, ours = lab.both("ping", "-c", "2", "-w", "1", "-i", "0.4", ABSENT, absent=True)
    assert_same(real, ours)
    assert "3 packets transmitted, 0 received" in ours.stdout


def test_deadline_ends_at_the_first_icmp_error(lab):
    time.sleep(1)
    real, ours = lab.both("ping", "-c", "3", "-w", "3", UNROUTED)
    assert_same(real, ours)
    assert "1 packets transmitted, 0 received, +1 errors" in ours.stdout


# ---- interfaces and sources ---------------------------------------------------------------------

def test_bound_to_a_device(lab):
    real, ours = lab.both("ping", "-c", "1", "-I", "h0", FAR)
    assert_same(real, ours)
    assert ours.stdout.startswith(f"PING {FAR} ({FAR}) from {HOST} h0: 56(84) bytes of data.\n")


def test_bound_to_a_source_address(lab):
    real, ours = lab.both("ping", "-c", "1", "-I", HOST, FAR)
    assert_same(real, ours)
    assert ours.stdout.startswith(f"PING {FAR} ({FAR}) from {HOST} : 56(84) bytes of data.\n")


def test_a_source_address_we_do_not_have(lab):
    real, ours = lab.both("ping", "-c", "1", "-I", "198.18.9.9", FAR)
    assert_same(real, ours)
    assert (ours.returncode, ours.stderr) == (2, "ping: bind: Cannot assign requested address\n")


def test_unknown_interface(lab):
    real, ours = lab.both("ping", "-c", "1", "-I", "nosuch0", FAR)
    assert_same(real, ours)
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        2, "", "ping: SO_BINDTODEVICE nosuch0: No such device\n")


def test_unknown_interface_ping6(lab):
    real, ours = lab.both("ping6", "-c", "1", "-I", "nosuch0", FAR6)
    assert_same(real, ours)
    assert (ours.returncode, ours.stderr) == (2, "ping6: unknown iface: nosuch0\n")


# ---- the command line --------------------------------------------------------------------------

@pytest.mark.parametrize("args", [
    ["-Z", FAR],  # an option ping does not have: the usage, exit 2
    ["-c", "x", FAR],  # invalid argument: exit 1
    ["-c", "0", FAR],
    ["-t", "256", FAR],
    ["-W", "-1", FAR],
    ["-c", "1"],  # no address: exit 1
    [FAR, "-c"],  # option without its argument
    ["-4", "-6", FAR],
    ["-c", "1", "-t", "0", FAR],  # refused by the kernel, after the options were read
])
def test_command_line_errors(lab, args):
    real, ours = lab.both("ping", *args)
    assert_same(real, ours)
    assert ours.returncode in (1, 2) and ours.stdout == ""


def test_garbage_in_an_interval_is_a_warning(lab):
    real, ours = lab.both("ping", "-c", "2", "-i", "0.2x", FAR)
    assert_same(real, ours)
    assert ours.stderr == ("ping: option argument contains garbage: x\n"
                           "ping: this will become fatal error in the future\n")


def test_unresolvable_name(lab):
    real, ours = lab.both("ping", "-c", "1", "no-such-host.invalid")
    assert_same(real, ours)
    assert (ours.returncode, ours.stdout, ours.stderr) == (
        2, "", "ping: no-such-host.invalid: Name or service not known\n")


def test_ping6_of_an_ipv4_address(lab):
    real, ours = lab.both("ping6", "-c", "1", FAR)
    assert_same(real, ours)
    assert ours.stderr == f"ping6: {FAR}: Address family for hostname not supported\n"


# ---- IPv6 --------------------------------------------------------------------------------------

def test_ping6_far_host(lab):
    real, ours = lab.both("ping6", "-c", "3", "-i", "0.2", FAR6)
    assert_same(real, ours)
    assert ours.stdout.startswith(f"PING {FAR6}({FAR6}) 56 data bytes\n"
                                  f"64 bytes from {FAR6}: icmp_seq=1 ttl=63 time=")


def test_ping_of_an_ipv6_address_is_ping6(lab):
    real, ours = lab.both("ping", "-c", "2", "-i", "0.2", "-s", "100", ROUTER6)
    assert_same(real, ours)
    assert "108 bytes from" in ours.stdout


def test_ping6_hop_limit_exceeded(lab):
    real, ours = lab.both("ping6", "-c", "2", "-i", "0.3", "-t", "1", FAR6)
    assert_same(real, ours)
    assert f"From {ROUTER6} icmp_seq=1 Time exceeded: Hop limit\n" in ours.stdout


def test_ping6_no_route(lab):
    real, ours = lab.both("ping6", "-c", "2", "-i", "0.3", UNROUTED6)
    assert_same(real, ours)
    assert f"From {ROUTER6} icmp_seq=2 Destination unreachable: No route\n" in ours.stdout


def test_ping6_absent_neighbour(lab):
    """Neighbour discovery fails after about 3 s; ping6 leaves these errors out of `pipe`."""
    real, ours = lab.both("ping6", "-c", "2", "-i", "0.3", "fd18:1::99", absent=True)
    assert_same(real, ours)
    assert "From fd18:1::2 icmp_seq=2 Destination unreachable: Address unreachable\n" in ours.stdout
    assert ours.stdout.endswith(f"+2 errors, 100% packet loss, time {elapsed(ours.stdout)}ms\n\n")


def _router_link_local(lab) -> str:
    shown = subprocess.run(["ip", "-n", lab.router, "-j", "-6", "addr", "show", "dev", "r0",
                            "scope", "link"], capture_output=True, text=True, check=True).stdout
    return next(entry["local"] for entry in json.loads(shown)[0]["addr_info"] if "local" in entry)


@pytest.mark.parametrize("how", ["scope", "device", "bare"])
def test_ping6_link_local(lab, how):
    """`%h0`, `-I h0` (ping shows source :: and warns: it never connects a link-local first
    hop), and no scope at all (the kernel picks the only link)."""
    address = _router_link_local(lab)
    args = {"scope": [f"{address}%h0"], "device": ["-I", "h0", address], "bare": [address]}[how]
    real, ours = lab.both("ping6", "-c", "1", *args)
    assert_same(real, ours)
    assert f"64 bytes from {address}%h0: icmp_seq=1 ttl=64 time=" in ours.stdout


def test_ping6_bound_to_a_device(lab):
    real, ours = lab.both("ping6", "-c", "1", "-I", "h0", FAR6)
    assert_same(real, ours)
    assert ours.stdout.startswith(f"PING {FAR6}({FAR6}) from fd18:1::2 h0: 56 data bytes\n")
