"""The daemon at rest on a router-like root: CPU, memory, loop lag; and the cron approach it replaces.

The root: four watched services (`sleep` processes with pidfiles in the root; nothing is
restarted while they live), the nine built-in checks placed by `vrmonitor compat install`, and a
health_checks_data.json as the management server writes it (basic every 3 minutes, advanced
every 10, with system thresholds, a router version, a VM and a load-balancing rule, so every
check does its work). The Prometheus export is on, for the loop lag.

The window starts when the daemon is launched, so it holds the daemon's start-up and the
first runs of each kind (a schedule starts with a run): in 300 s, 2 basic and 1 advanced
runs. The cron approach gets the same runs: a `*/3` and a `*/10` cron line started at the same
moment fire ceil(window / 180) and ceil(window / 600) times. Those runs are made with the
compat `/root/monitorServices.py basic|advanced` on the same root (the daemon stopped, so the
one-shot does the work itself), and their CPU is counted with getrusage(RUSAGE_CHILDREN).

VRMONITOR_BENCH_IDLE_SECONDS shortens the window (default 300) for a quick run.
"""

import json
import math
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.report import Row

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
WINDOW_ENV = "VRMONITOR_BENCH_IDLE_SECONDS"
BASIC_INTERVAL, ADVANCED_INTERVAL = 180.0, 600.0  # the management server's defaults, in seconds
SERVICES = ("ssh", "dhcp", "loadbalancing", "webserver")
TICK = 1 / os.sysconf("SC_CLK_TCK")
LAG_METRIC = "vrmonitor_loop_lag_max_seconds"  # the worst delay since the last export (a gauge)

HEALTH_CONFIG = {
    "virtualMachines": "vmName=vm-1,macAddress=02:00:4c:5f:00:01,ip=198.19.1.10,dhcp=true,dns=true;",
    "haproxyData": ("maxconn=4096,sourcePortStart=80,sourcePortEnd=80,sourceIp=198.19.0.21,"
                    "destPortStart=80,destPortEnd=80,algorithm=roundrobin,protocol=tcp,"
                    "stickiness=None,keepAliveEnabled=true,vmIps=198.19.1.10;"),
    "systemThresholds": "minDiskNeeded=100.0,maxCpuUsage=100.0,maxMemoryUsage=100.0;",
    "routerVersion": "templateVersion=Cloudstack Release 4.19.1.0,scriptsVersion=0123456789abcdef",
}
HAPROXY_CFG = """global
    maxconn 4096

listen 198_19_0_21-80
    bind 198.19.0.21:80
    balance roundrobin
    server 198_19_0_21-80_0 198.19.1.10:80 check
"""


def build_root(root: Path) -> None:
    for folder in ("", "root", "etc", "etc/vrmonitor", "etc/haproxy", "var/cache/cloud", "run",
                   "var/lib/prometheus/node-exporter"):
        (root / folder).mkdir(parents=True, exist_ok=True)
        os.chmod(root / folder, 0o755)
    subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "compat", "install"],
                   env=ENV, check=True, capture_output=True)
    (root / "etc/vrmonitor/vrmonitor.toml").write_text('[export]\nprometheus = "on"\n')
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_basic_run_interval": int(BASIC_INTERVAL // 60),
        "health_checks_advanced_run_interval": int(ADVANCED_INTERVAL // 60),
        "health_checks_enabled": True, "excluded_health_checks": [],
        "health_checks_config": HEALTH_CONFIG}, indent=4, ensure_ascii=False))
    (root / "etc/dhcphosts.txt").write_text("02:00:4c:5f:00:01,198.19.1.10,vm-1,infinite\n")
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n198.19.1.10\tvm-1\n")
    (root / "etc/haproxy/haproxy.cfg").write_text(HAPROXY_CFG)
    (root / "etc/cloudstack-release").write_text("Cloudstack Release 4.19.1.0\n")
    (root / "var/cache/cloud/cloud-scripts-signature").write_text("0123456789abcdef\n")
    (root / "var/cache/cloud/boot_up_done").touch()  # a booted VM: no start-up grace


def start_services(root: Path) -> list[subprocess.Popen]:
    """Four `sleep` services, each with its pidfile (written after it started), and monitor.conf."""
    sleepers, sections = [], []
    for name in SERVICES:
        process = subprocess.Popen(["sleep", "86400"], stdin=subprocess.DEVNULL,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                   start_new_session=True)
        sleepers.append(process)
        pidfile = root / f"run/{name}.pid"
        pidfile.write_text(f"{process.pid}\n")
        sections.append(f"[{name}]\nprocessname=sleep\nservicename=vrmonitor-bench-{name}\n"
                        f"pidfile={pidfile}\n")
    (root / "etc/monitor.conf").write_text("".join(sections))
    return sleepers


def cpu_seconds(pid: int) -> float:
    """utime + stime of the process and cutime + cstime of the children it reaped."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(value) for value in fields[11:15]) * TICK


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmHWM for {pid}")


def loop_lag(prom: Path) -> float | None:
    try:
        text = prom.read_text()
    except FileNotFoundError:
        return None
    for line in text.splitlines():
        if line.startswith(LAG_METRIC + " "):
            return float(line.split()[1])
    return None


def p99(samples: list[float]) -> float:
    """Nearest-rank 99th percentile."""
    ordered = sorted(samples)
    return ordered[max(0, math.ceil(0.99 * len(ordered)) - 1)]


def watch_daemon(root: Path, window: float) -> dict:
    """Launch the daemon, watch it for `window` seconds; its CPU, peak RSS, lag samples, runs."""
    prom = root / "var/lib/prometheus/node-exporter/vrmonitor.prom"
    launched = time.monotonic()
    daemon = subprocess.Popen([sys.executable, "-m", "vrmonitor", "--root", str(root), "run", "--foreground"],
                              env=ENV, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=subprocess.PIPE, text=True)
    lags, last_export = [], None
    try:
        while time.monotonic() - launched < window:
            time.sleep(min(1.0, max(0.0, window - (time.monotonic() - launched))))
            if daemon.poll() is not None:
                raise RuntimeError(f"the daemon exited {daemon.returncode}: {daemon.stderr.read()}")
            try:
                exported = prom.stat().st_mtime_ns
            except FileNotFoundError:
                continue
            if exported != last_export:
                last_export = exported
                lag = loop_lag(prom)
                if lag is not None:
                    lags.append(lag)
        cpu = cpu_seconds(daemon.pid)
        wall = time.monotonic() - launched
        rss = peak_rss_mb(daemon.pid)
        history = json.loads((root / "var/lib/vrmonitor/health-history.json").read_text())
        state = json.loads((root / "var/lib/vrmonitor/daemon.json").read_text())
    finally:
        daemon.send_signal(signal.SIGTERM)
        try:
            daemon.wait(timeout=30)
        except subprocess.TimeoutExpired:
            daemon.kill()
            daemon.wait()
        daemon.stderr.close()
    down = [name for name, service in state["services"].items() if service.get("state") != "up"]
    if down or len(state["services"]) != len(SERVICES):
        raise RuntimeError(f"not every service was up: {state['services']}")
    runs = {name: len(entries) for name, entries in history.items()}
    return {"cpu": cpu, "wall": wall, "rss": rss, "lags": lags, "runs": runs}


def cron_runs(root: Path, basic: int, advanced: int) -> float:
    """CPU seconds of the compat one-shot runs, as the cron lines start them."""
    script = root / "root/monitorServices.py"
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    for kind, count in (("basic", basic), ("advanced", advanced)):
        for _ in range(count):
            subprocess.run([sys.executable, str(script), kind], cwd=root / "root", env=ENV, check=True,
                           stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def run() -> list[Row]:
    window = float(os.environ.get(WINDOW_ENV, "300"))
    basic_runs = math.ceil(window / BASIC_INTERVAL)
    advanced_runs = math.ceil(window / ADVANCED_INTERVAL)
    folder = Path(tempfile.mkdtemp(prefix="vrmonitor-bench-daemon-"))
    sleepers = []
    try:
        root = folder / "vm"
        build_root(root)
        sleepers = start_services(root)
        daemon = watch_daemon(root, window)
        cron = cron_runs(root, basic_runs, advanced_runs)
    finally:
        for process in sleepers:
            process.kill()
            process.wait()
        shutil.rmtree(folder, ignore_errors=True)
    checks_run = sum(daemon["runs"].values())
    runs_note = (f"{basic_runs} basic + {advanced_runs} advanced runs of the nine built-in checks "
                 f"({checks_run} check runs with a result), the first at start-up; the long-run "
                 f"average is {window / BASIC_INTERVAL:.3g} + {window / ADVANCED_INTERVAL:.3g} per {window:g} s")
    lags = daemon["lags"]
    return [
        Row(f"idle daemon CPU over {window:g} s: four services, built-in checks on their schedule "
            f"(vs 0.5% of a core)", daemon["cpu"], 0.005 * daemon["wall"], "s", "<= 1",
            f"daemon + the children it reaped, start-up included; {runs_note}; {TICK:g} s ticks"),
        Row("idle daemon peak RSS (VmHWM) vs 40 MB", daemon["rss"], 40.0, "MB", "<= 1"),
        Row(f"daemon CPU vs the cron approach over the same {window:g} s", daemon["cpu"], cron, "s", "<= 1",
            f"cron: {basic_runs} x monitorServices.py basic + {advanced_runs} x advanced (one-shot, "
            "getrusage); the daemon's figure adds continuous service monitoring"),
        Row("loop lag: p99 of vrmonitor_loop_lag_max_seconds vs 50 ms", p99(lags) if lags else math.inf,
            0.050, "s", "<= 1",
            f"{len(lags)} exports; each holds the worst lag since the one before; max {max(lags, default=math.inf):.4g} s"),
    ]


if __name__ == "__main__":
    for row in run():
        print(row)
