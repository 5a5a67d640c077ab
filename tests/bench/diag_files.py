"""get_diagnostics_files.py with the router's default items on a router-like tree.

The items are diagnostics.data.router.defaults (contract 5.1): the four commands (run for real
on this machine) and sixteen files, created with plausible sizes and log-like content (a few MB
of cloud.log, dnsmasq.log, daemon.log; leases and dhcphosts for 250 VMs). The figure is the
median wall time of the installed entry point, from start to the zip path printed; the goal
is to stay within one second.
"""

import random
import sys
import tempfile
import zipfile
from pathlib import Path

from tests.bench.report import Row, markdown, median_wall
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths

ROUTER_DEFAULTS = (
    "iptables,ipaddr,iprule,iproute,/etc/cloudstack-release,/etc/dnsmasq.conf,/etc/dhcphosts.txt,"
    "/etc/dhcpopts.txt,/etc/dnsmasq.d/cloud.conf,/etc/dnsmasq-resolv.conf,"
    "/var/lib/misc/dnsmasq.leases,/var/log/dnsmasq.log,/etc/hosts,/etc/resolv.conf,"
    "/etc/haproxy/haproxy.cfg,/var/log/haproxy.log,/etc/ipsec.d/l2tp.conf,/var/log/cloud.log,"
    "/var/log/routerServiceMonitor.log,/var/log/daemon.log").split(",")
VMS = 250
MB = 1024 * 1024
RUNS = 7


def _vm(n: int) -> tuple[str, str, str]:
    return f"vm-{n}", f"02:00:4c:5f:{n // 256:02x}:{n % 256:02x}", f"10.1.{n // 250}.{n % 250 + 2}"


def _log(size: int, line) -> str:
    """`size` bytes of log lines made by line(n) (timestamps and counters vary, as in real logs)."""
    lines, total, n = [], 0, 0
    while total < size:
        text = line(n)
        lines.append(text)
        total += len(text)
        n += 1
    return "".join(lines)


def _stamp(n: int) -> str:
    return f"2024-05-01 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d},{n * 7 % 1000:03d}"


def make_router(root: Path) -> int:
    """Write the router's files under root; their total size in bytes."""
    rng = random.Random(4242)
    vms = [_vm(n) for n in range(VMS)]
    files = {
        "/etc/cloudstack-release": "Cloudstack Release 4.19.1.0 Fri 10 May 2024 08:00:00 AM UTC\n",
        "/etc/dnsmasq.conf": "".join(f"# option {n}: documented default\n#conf-{n}=value\n"
                                     for n in range(400)) + "domain=cs2cloud.internal\n",
        "/etc/dhcphosts.txt": "".join(f"{mac},{ip},{name},infinite\n" for name, mac, ip in vms),
        "/etc/dhcpopts.txt": "".join(f"set:{ip.replace('.', '_')},3\n" for _, _, ip in vms[:20]),
        "/etc/dnsmasq.d/cloud.conf": "dhcp-range=set:interface-eth0-0,10.1.1.1,static\n" * 30,
        "/etc/dnsmasq-resolv.conf": "nameserver 8.8.8.8\nnameserver 8.8.4.4\n",
        "/var/lib/misc/dnsmasq.leases": "".join(
            f"{1714557600 + n * 37} {mac} {ip} {name} 01:{mac}\n" for n, (name, mac, ip) in enumerate(vms)),
        "/var/log/dnsmasq.log": _log(3 * MB, lambda n: (
            f"May  1 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d} dnsmasq-dhcp[{900 + n % 7}]: "
            f"DHCPACK(eth0) {vms[n % VMS][2]} {vms[n % VMS][1]} {vms[n % VMS][0]}\n")),
        "/etc/hosts": "127.0.0.1\tlocalhost\n" + "".join(f"{ip}\t{name}\n" for name, _, ip in vms),
        "/etc/resolv.conf": "nameserver 127.0.0.1\nsearch cs2cloud.internal\n",
        "/etc/haproxy/haproxy.cfg": "global\n\tmaxconn 4096\n\n" + "".join(
            f"listen 192_0_2_21-{8000 + n}\n\tbind 192.0.2.21:{8000 + n}\n\tbalance roundrobin\n"
            f"\tserver 192_0_2_21-{8000 + n}_0 {vms[n][2]}:80 check\n\n" for n in range(40)),
        "/var/log/haproxy.log": _log(2 * MB, lambda n: (
            f"May  1 10:{n // 60 % 60:02d}:{n % 60:02d} haproxy[{1200 + n % 3}]: 198.51.100.{n % 250}:"
            f"{30000 + rng.randrange(30000)} [01/May/2024:10:00:{n % 60:02d}.{n % 1000:03d}] "
            f"192_0_2_21-8000 192_0_2_21-8000_0 0/0/{rng.randrange(9)} {rng.randrange(99999)} --\n")),
        # /etc/ipsec.d/l2tp.conf: absent, as on a router without remote access VPN
        "/var/log/cloud.log": _log(4 * MB, lambda n: (
            f"{_stamp(n)} CsHelper.py execute:{188 + n % 40} Executing: ip addr show dev eth{n % 3} "
            f"(rc {n % 2}, took {rng.random():.4f} s)\n")),
        "/var/log/routerServiceMonitor.log": _log(300 * 1024, lambda n: (
            f"{_stamp(n)} [INFO] [dnsmasq] The process dnsmasq is recovered successfully \n\n")),
        "/var/log/daemon.log": _log(3 * MB, lambda n: (
            f"May  1 {n // 3600 % 24:02d}:{n // 60 % 60:02d}:{n % 60:02d} r-4-VM systemd[1]: "
            f"Started session {n} of user root (unit session-{n}.scope, id {rng.randrange(1 << 32):08x}).\n")),
    }
    total = 0
    for vm_path, text in files.items():
        target = root / vm_path.lstrip("/")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text)
        total += len(text)
    (root / "root").mkdir(exist_ok=True)
    return total


def run() -> list[Row]:
    with tempfile.TemporaryDirectory(prefix="vrmonitor-bench-") as folder:
        root = Path(folder)
        total = make_router(root)
        install(Paths(root))
        script = str(root / "opt/cloud/bin/get_diagnostics_files.py")
        figure = median_wall([script, *ROUTER_DEFAULTS], runs=RUNS, cwd=str(root / "root"))
        zips = sorted((root / "root").glob("diagnostics_files_*.zip"))
        with zipfile.ZipFile(zips[-1]) as archive:
            members = len(archive.namelist())
        note = (f"{len(ROUTER_DEFAULTS)} items, {total / MB:.1f} MB of files -> {members} members, "
                f"zip {zips[-1].stat().st_size / MB:.2f} MB; median of {RUNS}")
    return [Row("get_diagnostics_files.py, router defaults (wall time vs 1 s)", figure, 1.0, "s",
                "<= 1", note)]


if __name__ == "__main__":
    rows = run()
    print(markdown(rows))
    sys.exit(0 if all(row.met for row in rows) else 1)
