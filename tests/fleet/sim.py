"""A fleet of routers on one machine, scraped by one Prometheus: what a zone's monitoring costs.

Each router is a temporary root (tests/vmroot.VmRoot) with the four services of a virtual router
(each a `sleep` with its own init script), the nine checks (each a script that prints a line:
the series are what matter, not the checks' work), its own vrmonitor daemon and its own
Debian node_exporter (textfile collector only, a free port on 127.0.0.1). One Debian Prometheus
scrapes them all with the shipped rules. Services are killed at random; each kill is timed to
its VrmonitorServiceRestarted alert (which has no `for:`, so its activeAt is when the rule
first saw the restart), and from the daemon noticing it (its alert journal) to the first sample
showing it (tests/fleet/latency.py: the issue's bound is one scrape interval + 2 s).

Measured: series per router (vrmonitor's and all), scrape bytes per router (plain and gzip),
Prometheus' resident memory per 1 000 head series, each daemon's CPU and resident memory, and
kill-to-alert and notice-to-sample times. Nothing listens anywhere but 127.0.0.1; every process is ended by its PID.
"""

import gzip
import os
import random
import shutil
import signal
import statistics
import subprocess
import tempfile
import time
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from tests.fleet.latency import first_sample, noticed
from tests.prom_stack import NodeExporter, PrometheusServer, SHIPPED_RULES, get
from tests.vmroot import ENV, VmRoot
from tests.waiting import wait_for

SECTIONS = ("ssh", "dhcp", "loadbalancing", "webserver")
CHECKS = ("cpu_usage_check.py", "dhcp_check.py", "disk_space_check.py", "dns_check.py",
          "gateways_check.py", "haproxy_check.py", "iptables_check.py", "memory_usage_check.py",
          "router_version_check.py")
TICK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")


class Router:
    def __init__(self, base: Path, index: int):
        self.index = index
        self.folder = base / f"r{index:03d}"
        self.parts = [VmRoot(self.folder, tag=f"fleet{index}-{section}", section=section)
                      for section in SECTIONS]
        self.root = self.parts[0].root
        self.daemon: subprocess.Popen | None = None
        self.exporter: NodeExporter | None = None

    def build(self) -> None:
        first = self.parts[0]
        first.build(toml='[export]\nprometheus = "on"\n',
                    checks={name: "#!/bin/sh\necho fine\n" for name in CHECKS})
        for part in self.parts[1:]:
            part.write_init_script("/usr/bin/sleep -- 86400")
        (self.root / "etc/monitor.conf").write_text("".join(
            f"[{p.section}]\nprocessname=sleep\nservicename={p.service}\npidfile={p.pidfile}\n"
            for p in self.parts))
        (self.root / "var/cache/cloud").mkdir(parents=True)
        (self.root / "var/cache/cloud/cmdline").write_text(
            f"template=domP type=router name=r-{self.index}-VM redundant_router=false\n")
        (self.root / "var/lib/prometheus/node-exporter").mkdir(parents=True)
        for part in self.parts:
            assert part.service_ctl("start").returncode == 0

    def start(self) -> None:
        log = open(self.folder / "daemon.log", "wb")
        with log:
            self.daemon = subprocess.Popen(
                [os.environ.get("VRMONITOR_FLEET_PYTHON", "/usr/bin/python3"), "-m", "vrmonitor",
                 "--root", str(self.root), "run", "--foreground"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, env=ENV)
        self.exporter = NodeExporter(self.root / "var/lib/prometheus/node-exporter", self.folder / "ne.log")

    def kill_service(self, section: str) -> float:
        part = next(p for p in self.parts if p.section == section)
        pid = wait_for(part.service_pid, f"{section} of router {self.index} runs")
        os.kill(pid, signal.SIGKILL)
        return time.time()

    def usage(self) -> tuple[float, int]:
        """The daemon's CPU seconds so far and its resident bytes."""
        assert self.daemon is not None
        fields = Path(f"/proc/{self.daemon.pid}/stat").read_text().rsplit(")", 1)[1].split()
        cpu = (int(fields[11]) + int(fields[12])) / TICK
        rss = int(Path(f"/proc/{self.daemon.pid}/statm").read_text().split()[1]) * PAGE
        return cpu, rss

    def stop(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.send_signal(signal.SIGTERM)
            try:
                self.daemon.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.daemon.kill()
                self.daemon.wait()
        if self.exporter is not None:
            self.exporter.stop()
        for part in self.parts:
            part.cleanup()


@dataclass
class Stage:
    routers: int
    series_vrmonitor: float  # per router
    series_all: float  # per router, node_exporter's own and Prometheus' scrape series included
    scrape_bytes: int  # one router's /metrics, plain
    scrape_bytes_gzip: int
    head_series: int
    prometheus_rss: int
    daemon_cpu_percent: float  # mean over the routers, idle window
    daemon_rss: int  # mean
    kills: int
    kill_to_alert: list[float]
    notice_to_sample: list[float]  # the daemon's alert of the exit to the first sample showing it

    @property
    def rss_per_1000_series(self) -> float:
        return self.prometheus_rss / (self.head_series / 1000.0)


def run(sizes: list[int], interval: str = "5s", idle: float = 30.0, kills: int = 10, seed: int = 1) -> list[Stage]:
    """One stage per size (routers added to the running fleet), each measured after `idle`
    seconds of rest and then `kills` random service kills."""
    rng = random.Random(seed)
    base = Path(tempfile.mkdtemp(prefix=f"vrmonitor-fleet-{os.getpid()}-"))
    os.chmod(base, 0o755)
    stages: list[Stage] = []
    routers: list[Router] = []
    killed: set[tuple[int, str]] = set()
    try:
        with ExitStack() as stack:
            for size in sizes:
                for index in range(len(routers), size):
                    router = Router(base, index)
                    routers.append(router)
                    stack.callback(router.stop)
                    router.build()
                    router.start()
                for router in routers:
                    assert router.exporter is not None
                    router.exporter.wait_ready()
                server = PrometheusServer(base / f"prometheus-{size}", [r.exporter.address for r in routers if r.exporter],
                                          SHIPPED_RULES, interval=interval)
                try:
                    server.wait_ready()
                    stages.append(_measure(server, routers, idle, kills, rng, killed))
                finally:
                    server.stop()
                    shutil.rmtree(base / f"prometheus-{size}", ignore_errors=True)
    finally:
        shutil.rmtree(base, ignore_errors=True)
    return stages


def _measure(server: PrometheusServer, routers: list[Router], idle: float, kills: int,
             rng: random.Random, killed: set) -> Stage:
    wait_for(lambda: server.value("count(up == 1)") == len(routers), "every router scraped", within=120, step=0.5)
    wait_for(lambda: server.value('count(vrmonitor_check_status{status="success"} == 1)') == len(routers) * len(CHECKS),
             "every router's checks ran", within=180, step=1)
    before = [r.usage() for r in routers]
    started = time.monotonic()
    time.sleep(idle)
    elapsed = time.monotonic() - started
    after = [r.usage() for r in routers]
    cpu = statistics.mean((a[0] - b[0]) / elapsed * 100 for a, b in zip(after, before))
    rss = int(statistics.mean(a[1] for a in after))
    vrmonitor_series = server.value('count({__name__=~"vrmonitor_.+"})') or 0
    all_series = server.value('count({job="routers"})') or 0
    head = int(server.api("status/tsdb")["headStats"]["numSeries"])
    body = get(f"http://{routers[0].exporter.address}/metrics") if routers[0].exporter else b""
    times, delays = _kills(server, routers, kills, rng, killed)
    return Stage(len(routers), vrmonitor_series / len(routers), all_series / len(routers), len(body),
                 len(gzip.compress(body)), head, server.memory(), cpu, rss, len(times), times, delays)


def _kills(server: PrometheusServer, routers: list[Router], kills: int, rng: random.Random,
           killed: set) -> tuple[list[float], list[float]]:
    """Kill `kills` services never killed before, one every second. The seconds from each kill to
    its VrmonitorServiceRestarted alert's activeAt, and from the daemon noticing it to the first
    sample showing it."""
    choices = [(r.index, s) for r in routers for s in SECTIONS if (r.index, s) not in killed]
    chosen = rng.sample(choices, min(kills, len(choices)))
    at: dict[tuple[str, str], float] = {}
    restarts: dict[tuple[str, str], float] = {}
    owner: dict[tuple[str, str], Router] = {}
    for index, section in chosen:
        router = routers[index]
        assert router.exporter is not None
        key = (router.exporter.address, section)
        restarts[key] = server.value(
            f'vrmonitor_service_restarts_total{{instance="{key[0]}",service="{section}"}}') or 0.0
        owner[key] = router
        at[key] = router.kill_service(section)
        killed.add((index, section))
        time.sleep(1)

    def seen() -> dict | None:
        active = {}
        for alert in server.api("alerts")["alerts"]:
            labels = alert["labels"]
            key = (labels.get("instance"), labels.get("service"))
            if labels["alertname"] == "VrmonitorServiceRestarted" and key in at:
                active[key] = _unix(alert["activeAt"])
        return active if len(active) == len(at) else None

    active = wait_for(seen, "every kill's VrmonitorServiceRestarted alert", within=120, step=0.5)
    delays = []
    for key, killed_at in at.items():
        # The four services of a router share processname and journal; kills are a second apart,
        # so the first notice after this kill is this kill's.
        journal = owner[key].parts[0].alerts()
        noticed_at = wait_for(lambda: noticed(journal, killed_at), f"the daemon's alert of the kill of {key}")
        sampled_at = wait_for(lambda: first_sample(server, {"instance": key[0], "service": key[1]}, killed_at,
                                                   restarts[key]), f"a sample showing the kill of {key}")
        delays.append(sampled_at - noticed_at)
    return sorted(active[key] - at[key] for key in at), sorted(delays)


def _seconds(interval: str) -> float:
    """Prometheus' duration of one unit (`5s`, `1m`) in seconds."""
    return float(interval[:-1]) * {"s": 1, "m": 60, "h": 3600}[interval[-1]]


def _unix(stamp: str) -> float:
    """Prometheus' RFC 3339 time (nanoseconds, Z) as Unix seconds."""
    head, _, rest = stamp.rstrip("Z").partition(".")
    fraction = float("0." + rest) if rest else 0.0
    return datetime.fromisoformat(head + "+00:00").timestamp() + fraction


def markdown(stages: list[Stage], interval: str) -> str:
    lines = [
        "## Prometheus fleet",
        "",
        f"Made by `make fleet` ({datetime.now().strftime('%Y-%m-%d')}): N routers on this machine, each a",
        "vrmonitor daemon on its own root with four services and nine checks and its own",
        "node_exporter (textfile collector only); one Prometheus with the shipped rules, scraping and",
        f"evaluating every {interval}; random service kills (SIGKILL), each timed to its",
        "VrmonitorServiceRestarted alert, and from the daemon noticing it (its alert journal's",
        "time) to the first Prometheus sample showing it (the sample's own timestamp; the issue's",
        f"bound is one scrape interval + 2 s, {_seconds(interval) + 2:g} s here). tests/fleet/sim.py.",
        "",
        "| routers | vrmonitor series / router | all series / router | scrape bytes / router (gzip) "
        "| Prometheus head series | Prometheus RSS | RSS / 1 000 series | daemon CPU (mean) | daemon RSS (mean) "
        "| kills | kill to alert: median, max | kill noticed to first sample: median, max |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for s in stages:
        times = s.kill_to_alert or [float("nan")]
        delays = s.notice_to_sample or [float("nan")]
        lines.append(
            f"| {s.routers} | {s.series_vrmonitor:.0f} | {s.series_all:.0f} | {s.scrape_bytes} ({s.scrape_bytes_gzip}) "
            f"| {s.head_series} | {s.prometheus_rss / 2**20:.0f} MiB | {s.rss_per_1000_series / 2**20:.2f} MiB "
            f"| {s.daemon_cpu_percent:.2f} % | {s.daemon_rss / 2**20:.1f} MiB | {s.kills} "
            f"| {statistics.median(times):.2f} s, {max(times):.2f} s "
            f"| {statistics.median(delays):.2f} s, {max(delays):.2f} s |")
    if len(stages) > 1:
        first, last = stages[0], stages[-1]
        slope = (last.prometheus_rss - first.prometheus_rss) / max(1, last.head_series - first.head_series) * 1000
        lines += ["", f"Prometheus' resident memory grew by {slope / 2**20:.2f} MiB per 1 000 head series from "
                      f"{first.routers} to {last.routers} routers (the RSS / 1 000 series column includes its "
                      "fixed start-up memory, which dominates a small fleet)."]
    return "\n".join(lines) + "\n"
