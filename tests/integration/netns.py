"""A small routed network of namespaces for diagnostics tests (198.18.0.0/15 and a ULA only).

    host (h0 198.18.1.2, fd18:1::2) --- (r0 198.18.1.1, fd18:1::1) router
    router (r1 198.18.2.1, fd18:2::1) --- (f0 198.18.2.2, fd18:2::2) far

- host: default routes via the router; the tools under test run here (`Topology.run_in_host`).
- router: forwards; no route beyond 198.18.1.0/24 and 198.18.2.0/24, so 198.19.99.1 gets a
  "network unreachable" back from 198.18.1.1; ICMP rate limits off.
- ABSENT (198.18.1.99): on the host's link, nobody answers ARP.
- Names are unique per process, so parallel test runs do not collide; everything is deleted on exit.
"""

import os
import subprocess
from contextlib import contextmanager
from dataclasses import dataclass

HOST, ROUTER, FAR = "198.18.1.2", "198.18.1.1", "198.18.2.2"
ROUTER_FAR_SIDE = "198.18.2.1"
ABSENT = "198.18.1.99"
UNROUTED = "198.19.99.1"
HOST6, ROUTER6, FAR6 = "fd18:1::2", "fd18:1::1", "fd18:2::2"
HOST_MAC = "02:00:c6:12:01:02"
ROUTER_MAC = "02:00:c6:12:01:01"


@dataclass(frozen=True)
class Topology:
    host: str  # namespace names
    router: str
    far: str

    def run_in_host(self, argv, timeout: float = 60, **kwargs) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", self.host, *argv], capture_output=True,
                              text=True, timeout=timeout, **kwargs)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


def _in(ns: str, *argv: str) -> None:
    subprocess.run(["ip", "netns", "exec", ns, *argv], check=True, capture_output=True)


@contextmanager
def topology(prefix: str = "vrmd"):
    tag = f"{prefix}{os.getpid() % 100000}"
    topo = Topology(f"{tag}-h", f"{tag}-r", f"{tag}-f")
    created = []
    try:
        for ns in (topo.host, topo.router, topo.far):
            _ip("netns", "add", ns)
            created.append(ns)
            _in(ns, "ip", "link", "set", "lo", "up")
            _in(ns, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0")
            _in(ns, "sysctl", "-qw", "net.ipv6.icmp.ratelimit=0")
        # host <-> router
        _ip("link", "add", "h0", "netns", topo.host, "address", HOST_MAC, "type", "veth",
            "peer", "r0", "netns", topo.router, "address", ROUTER_MAC)
        # router <-> far
        _ip("link", "add", "r1", "netns", topo.router, "type", "veth", "peer", "f0", "netns", topo.far)
        for ns, dev, v4, v6 in ((topo.host, "h0", f"{HOST}/24", f"{HOST6}/64"),
                                (topo.router, "r0", f"{ROUTER}/24", f"{ROUTER6}/64"),
                                (topo.router, "r1", f"{ROUTER_FAR_SIDE}/24", "fd18:2::1/64"),
                                (topo.far, "f0", f"{FAR}/24", f"{FAR6}/64")):
            _in(ns, "sysctl", "-qw", f"net.ipv6.conf.{dev}.accept_dad=0")
            _in(ns, "ip", "addr", "add", v4, "dev", dev)
            _in(ns, "ip", "-6", "addr", "add", v6, "dev", dev, "nodad")
            _in(ns, "ip", "link", "set", dev, "up")
        _in(topo.router, "sysctl", "-qw", "net.ipv4.ip_forward=1")
        _in(topo.router, "sysctl", "-qw", "net.ipv6.conf.all.forwarding=1")
        _in(topo.host, "ip", "route", "add", "default", "via", ROUTER)
        _in(topo.host, "ip", "-6", "route", "add", "default", "via", ROUTER6)
        _in(topo.far, "ip", "route", "add", "default", "via", ROUTER_FAR_SIDE)
        _in(topo.far, "ip", "-6", "route", "add", "default", "via", "fd18:2::1")
        yield topo
    finally:
        for ns in reversed(created):
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
