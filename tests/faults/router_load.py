"""Issue 9's load on a VmRoot: 200 CloudStack calls at once while the daemon runs checks, writes
alerts and rotates its log. Shared by tests/faults/test_load.py and the load bench.

The churn runs beside the calls, each part in its own thread:
- health runs: health_checks_data.json gets another interval (LiveDaemon.start_runs), so the
  daemon starts a run of each kind, as when the management server pushes new data;
- alerts: the watched service is killed (the daemon restarts it and writes two alerts), and
  the alert writer adds alerts long enough that the 4096-byte log rotates every few;
- a management-server poller (AlertPoller) keeps its last timestamp from poll to poll.
"""

import os
import signal
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from subprocess import CompletedProcess

from tests.faults.live_daemon import LiveDaemon
from tests.faults.ms_poller import ALERTS, FIRST_POLL, RESULTS, AlertPoller, call_entry_point, install_entry_points
from tests.vmroot import FAST_SERVICES_TOML, VmRoot, check_script
from tests.waiting import wait_for
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.paths import Paths

SECTION = "loadsvc"
MAX_BYTES = 4096  # the smallest [alerts] max_bytes: a rotation every few alerts
BACKUPS = 50  # enough generations that nothing written during the load rotates away
TOML = (FAST_SERVICES_TOML + f"[alerts]\nmax_bytes = {MAX_BYTES}\nbackups = {BACKUPS}\n"
        '[export]\nprometheus = "on"\n')
CHECKS = {
    "ok_one.sh": check_script("basic", 0.1, 0, "one ok"),
    "ok_two.sh": check_script("basic", 0.2, 0, "two ok"),
    "failing.sh": check_script("basic", 0.1, 1, "failing on purpose"),
    "ok_advanced.sh": check_script("advanced", 0.2, 0, "advanced ok"),
}
# What a whole answer holds: {kind: {entry: (success, message)}}; the service's entry varies.
SERVICE_ENTRY = f"{SECTION}.service"
EXPECTED = {"basic": {"ok_one.sh": ("true", "one ok"), "ok_two.sh": ("true", "two ok"),
                      "failing.sh": ("false", "failing on purpose")},
            "advanced": {"ok_advanced.sh": ("true", "advanced ok")}}
PADDING = "x" * 300  # a pumped alert's length: journal ~5 and log ~11 alerts per generation
PUMP_LIMIT = 180  # pumped alerts at most, well inside BACKUPS generations
PUMP_PAUSE = 0.15  # a log rotation every ~2 s


def build(vm: VmRoot, toml: str = TOML) -> None:
    vm.build(toml, CHECKS)
    install_entry_points(vm.root)
    (vm.root / "var/lib/prometheus/node-exporter").mkdir(parents=True, exist_ok=True)


def start(vm: VmRoot) -> LiveDaemon:
    """The daemon, once the service is up and both kinds have results."""
    live = LiveDaemon(vm)
    wait_for(lambda: live.running() and vm.sees_service_up()
             and all((vm.root / f"root/{kind}_monitor_results.json").exists() for kind in EXPECTED),
             "the service up and the first runs written")
    return live


# --- the 200 calls ---

@dataclass
class Answer:
    script: str
    args: tuple[str, ...]
    started: float  # time.time() just before the call
    done: CompletedProcess


def call_mix(timestamp: str) -> list[tuple[str, tuple[str, ...]]]:
    """100 results fetches (fresh or not, both kinds or one) and 100 alert polls, interleaved:
    first polls ever and polls with `timestamp` (one the poller was never answered with: two
    callers sending the same answered timestamp cannot be told apart, docs/alerts.md)."""
    results = ([("true",)] * 40 + [("true", "basic")] * 10 + [("true", "advanced")] * 10
               + [("false",)] * 25 + [()] * 15)
    alerts = [tuple(FIRST_POLL.split())] * 50 + [tuple(timestamp.split())] * 50
    mix = []
    for fetch, poll in zip(results, alerts):
        mix += [(RESULTS, fetch), (ALERTS, poll)]
    return mix


def burst(root: Path, calls: list[tuple[str, tuple[str, ...]]]) -> list[Answer]:
    """Every call in its own thread, released together by a barrier."""
    barrier = threading.Barrier(len(calls))
    answers: list[Answer | None] = [None] * len(calls)

    def one(index: int, script: str, args: tuple[str, ...]) -> None:
        barrier.wait()
        started = time.time()
        answers[index] = Answer(script, args, started, call_entry_point(root, script, *args))

    threads = [threading.Thread(target=one, args=(i, *call)) for i, call in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    missing = [calls[i] for i, answer in enumerate(answers) if answer is None]
    assert not missing, f"calls that raised instead of answering: {missing}"
    return answers


# --- the churn ---

@dataclass
class Churn:
    """The threads beside the calls; stop() waits for the minimum of each and re-raises a failure."""
    vm: VmRoot
    live: LiveDaemon
    poller: AlertPoller = None
    kills: int = 0
    pumped: int = 0
    runs_started: int = 0
    errors: list = field(default_factory=list)

    def __post_init__(self):
        self.poller = self.poller or AlertPoller(self.vm.root)
        self._writer = AlertWriter(Paths(self.vm.root), MAX_BYTES, BACKUPS)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._guard, args=(work,), daemon=True)
                         for work in (self._kill, self._pump, self._runs, self._poll)]

    def start(self) -> "Churn":
        for thread in self._threads:
            thread.start()
        return self

    def stop(self, kills: int = 1, runs: int = 1, within: float = 120.0) -> None:
        wait_for(lambda: self.errors or (self.kills >= kills and self.runs_started >= runs),
                 f"{kills} kills and {runs} health-run starts", within=within, step=0.1)
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=60)
        if self.errors:
            raise self.errors[0]

    def _guard(self, work) -> None:
        try:
            while not self._stop.is_set():
                work()
        except Exception as exc:  # handed to stop(), which raises it in the test's thread
            self.errors.append(exc)
            self._stop.set()

    def _kill(self) -> None:
        """The service killed; the daemon restarts it (a new PID, up), then a pause."""
        pid = wait_for(self.vm.service_pid, "the service's PID")
        os.kill(pid, signal.SIGKILL)
        wait_for(lambda: self.live.running() and self.vm.sees_service_up()
                 and self.vm.service_pid() not in (None, pid), "the service restarted", within=60)
        self.kills += 1
        self._stop.wait(1.0)

    def _pump(self) -> None:
        """Alerts through the one writer every producer uses (what `vrmonitor raise-alert` runs:
        a process per alert would be starved by the 200 calls on a small machine)."""
        if self.pumped < PUMP_LIMIT:
            self._writer.write("INFO", "loadpump", f"pumped alert {self.pumped} {PADDING}")
            self.pumped += 1
        self._stop.wait(PUMP_PAUSE)

    def _runs(self) -> None:
        self.live.start_runs()
        self.runs_started += 1
        self._stop.wait(1.5)

    def _poll(self) -> None:
        self.poller.new_alerts()
        self._stop.wait(0.1)
