"""kill -9 of the daemon (and of getRouterAlerts.sh) at a chosen system call of a write.

strace injects SIGKILL on entry to the chosen call (`-P` picks the file when the call names it;
`-b execve` leaves the checks and init scripts the daemon starts alone). The moments:
- the daemon's first publish of daemon.json: temp file written, before its rename;
- a basic run's results: temp file written, before its rename (strace attached to the idle
  daemon, then a run started through health_checks_data.json);
- the alert journal append (the service was killed: the daemon is writing "not running");
- between the journal record and its legacy log line (repaired at the next start);
- getRouterAlerts.sh writing polls.json: the management server gets no answer.
After each kill the daemon is started again (the service it did not restart is down). Then:
every JSON file is whole, no temporary file is left, the journal is seq 1..N, the legacy log
is exactly the journal's lines (contract 2.4's bytes), the management server's polls deliver
each alert exactly once, and the next basic run writes results.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from tests.faults.live_daemon import LiveDaemon, results
from tests.faults.ms_poller import AlertPoller, install_entry_points
from tests.conftest import require_root
from tests.vmroot import ENV, FAST_SERVICES_TOML, VmRoot, check_script
from tests.waiting import wait_for
from vrmonitor.alerts.store import AlertStore
from vrmonitor.paths import Paths
from vrmonitor.system.files import TEMP_MARK

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

TOML = FAST_SERVICES_TOML + "stable_after = 0.2\n"
DOWN = "[INFO] [sleep] The process sleep is not running trying recover"


# atomic_write renames through its folder's descriptor (renameat); rotations use rename.
ATOMIC_RENAME = "rename,renameat,renameat2"


def killed_at(syscall: str, path: Path | None = None, detach_at_exec: bool = True) -> tuple[str, ...]:
    """A prefix running a command under strace that SIGKILLs it on entering `syscall` (the first
    one naming `path`). detach_at_exec=False follows a command that execs another program: the
    installed getRouterAlerts.sh is sh that execs Python for an answer it must compose."""
    return ("strace", "-f", *(("-b", "execve") if detach_at_exec else ()), "-qqq", "-o", "/dev/null", "-e", f"trace={syscall}",
            "-e", f"inject={syscall}:signal=KILL:when=1", *(("-P", str(path)) if path else ()))


def temps(root: Path) -> list[Path]:
    return [p for p in root.rglob(f"*{TEMP_MARK}*") if p.is_file()]


class Router:
    def __init__(self, folder: Path, toml: str = TOML):
        self.vm = VmRoot(folder, tag="killwrite")
        self.vm.build(toml, {"ok_check.sh": check_script("basic", 0, 0, "ok")})
        self.vm.write_health_data(1, health_checks_advanced_run_interval=0)
        install_entry_points(self.vm.root)
        self.ms = AlertPoller(self.vm.root)
        self.journal = self.vm.root / "var/lib/vrmonitor/alerts/journal.jsonl"
        self.legacy = self.vm.root / "var/log/routerServiceMonitor.log"
        self.basic = self.vm.root / "root/basic_monitor_results.json"
        self.daemon: LiveDaemon | None = None
        assert self.vm.service_ctl("start").returncode == 0
        wait_for(self.vm.service_pid, "the service started")

    def start(self, prefix: tuple[str, ...] = ()) -> LiveDaemon:
        self.daemon = LiveDaemon(self.vm, prefix)
        return self.daemon

    def service(self) -> str | None:
        return self.vm.state().get("services", {}).get(self.vm.section, {}).get("state")

    def wait_killed(self) -> None:
        """The daemon under strace died of the injected SIGKILL."""
        code = self.daemon.process.wait(timeout=60)
        assert code in (-signal.SIGKILL, 128 + signal.SIGKILL), f"exit {code}:\n{self.daemon.log()}"

    def restart_and_verify(self) -> None:
        """The daemon again: it recovers the service; then everything that must hold."""
        daemon = self.start()
        wait_for(lambda: daemon.running() and self.vm.sees_service_up() and self.vm.service_pid(),
                 "the restarted daemon has the service up", within=30)
        before = self.basic.stat().st_mtime_ns if self.basic.exists() else 0
        daemon.start_runs()  # the schedule carried over may put the next run minutes away
        history = self.vm.root / "var/lib/vrmonitor/health-history.json"
        wait_for(lambda: daemon.running() and self.basic.exists() and self.basic.stat().st_mtime_ns > before
                 and history.exists() and history.stat().st_mtime_ns >= self.basic.stat().st_mtime_ns,
                 "the restarted daemon's basic run writes results", within=90)
        assert "ok_check.sh" in results(self.basic)
        for name in ("var/lib/vrmonitor/daemon.json", "var/lib/vrmonitor/health-history.json"):
            results(self.vm.root / name)
        journal = daemon.alerts()
        assert [a["seq"] for a in journal] == list(range(1, len(journal) + 1)), journal
        legacy = self.legacy.read_bytes() if self.legacy.exists() else b""
        assert legacy == "".join(a["line"] + "\n\n" for a in journal).encode()
        undelivered = [a["line"] for a in journal][len(self.ms.delivered):]
        assert self.ms.new_alerts() == undelivered
        assert self.ms.delivered == [a["line"] for a in journal]
        assert self.ms.new_alerts() == []
        daemon.stop()
        assert temps(self.vm.root) == []

    def kill_service(self) -> None:
        os.kill(self.vm.service_pid(), signal.SIGKILL)


def a_router(toml: str = TOML):
    require_root("the kill-mid-write test")
    if shutil.which("strace") is None:
        pytest.fail("strace is missing: apt-get install strace", pytrace=False)
    folder = Path(tempfile.mkdtemp(prefix=f"vrmonitor-killwrite-{os.getpid()}-"))
    r = Router(folder, toml)
    try:
        yield r
    finally:
        if r.daemon is not None:
            r.vm.daemon = r.daemon.process
        r.vm.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def router():
    yield from a_router()


@pytest.fixture
def rotating_router():
    """Alert files of 4096 bytes (the least allowed): ten long alerts rotate them (20 kept)."""
    yield from a_router(TOML + "[alerts]\nmax_bytes = 4096\nbackups = 20\n")


def test_kill_before_the_rename_of_daemon_json(router):
    state = router.vm.root / "var/lib/vrmonitor/daemon.json"
    router.start(killed_at(ATOMIC_RENAME))  # the daemon's first rename is its first publish
    router.wait_killed()
    assert not state.exists()
    assert [p.name.split(TEMP_MARK)[0] for p in temps(router.vm.root)] == [".daemon.json"]
    router.restart_and_verify()


def test_kill_before_the_rename_of_a_results_file(router):
    daemon = router.start()
    history = router.vm.root / "var/lib/vrmonitor/health-history.json"
    wait_for(lambda: daemon.running() and history.exists(), "the first basic run, all written", within=60)
    first = router.basic.read_bytes()
    tracer = subprocess.Popen(["strace", "-p", str(daemon.pid), "-f", "-b", "execve", "-o", "/dev/null",
                               "-e", f"trace={ATOMIC_RENAME}", "-e", f"inject={ATOMIC_RENAME}:signal=KILL:when=1"],
                              stderr=subprocess.PIPE, text=True)
    try:
        # "Process PID attached [with N threads]": said once every thread is attached.
        line = tracer.stderr.readline()
        assert line.startswith(f"strace: Process {daemon.pid} attached"), line
        # A new schedule starts with a run; changed again every few seconds in case a busy
        # machine let one change pass unseen, until the run's rename kills the daemon.
        interval, deadline = 2, time.monotonic() + 60
        while daemon.process.poll() is None and time.monotonic() < deadline:
            router.vm.write_health_data(interval, health_checks_advanced_run_interval=0)
            interval = 3 - interval
            try:
                daemon.process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        router.wait_killed()
    finally:
        tracer.wait(timeout=30)
    assert router.basic.read_bytes() == first, "the previous results stay whole"
    assert [p.name.split(TEMP_MARK)[0] for p in temps(router.vm.root)] == [".basic_monitor_results.json"]
    router.restart_and_verify()


def test_kill_during_the_alert_journal_append(router):
    router.start(killed_at("write", router.journal))
    wait_for(lambda: router.daemon.running() and router.service() == "up", "the daemon sees the service up")
    router.kill_service()  # the daemon writes "not running trying recover": killed at the journal
    router.wait_killed()
    assert router.journal.read_bytes() == b"" and not router.legacy.exists()
    router.restart_and_verify()
    assert router.ms.delivered[0].endswith(DOWN)


def test_kill_between_the_journal_record_and_its_legacy_line_is_repaired(router):
    router.start(killed_at("write", router.legacy))
    wait_for(lambda: router.daemon.running() and router.service() == "up", "the daemon sees the service up")
    router.kill_service()
    router.wait_killed()
    records = [json.loads(line) for line in router.journal.read_text().splitlines()]
    assert [r["seq"] for r in records] == [1] and records[0]["line"].endswith(DOWN)
    assert router.legacy.read_bytes() == b""
    router.restart_and_verify()  # the legacy log is exactly the journal: line 1 was appended
    assert "the legacy alert log lacked the journal's last alert" in router.daemon.log()


def test_kill_of_get_router_alerts_while_it_records_the_poll(router):
    daemon = router.start()
    wait_for(lambda: daemon.running() and router.vm.sees_service_up(), "the daemon sees the service up")
    router.kill_service()
    wait_for(lambda: daemon.running() and len(daemon.alerts()) >= 2, "the daemon's recovery alerts")
    assert router.ms.new_alerts()  # a first answer: polls.json now exists
    router.kill_service()
    wait_for(lambda: daemon.running() and len(daemon.alerts()) >= 4, "the second recovery's alerts")
    # polls.json's rename is its first one (No Alerts is published after the answer)
    killed = router.ms.poll(wrap=killed_at(ATOMIC_RENAME, detach_at_exec=False))
    assert killed.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL) and killed.stdout == ""
    assert [p.name.split(TEMP_MARK)[0] for p in temps(router.vm.root)] == [".polls.json"]
    daemon.stop()
    router.restart_and_verify()  # the unanswered alerts arrive at the next poll, once


def raise_alert(root: Path, number: int, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "vrmonitor", "--root", str(root), "raise-alert",
                           "--severity", "INFO", "writer", f"alert {number} " + "x" * 400],
                          capture_output=True, text=True, env=ENV, timeout=60, check=False)


@pytest.mark.parametrize("rotating", ["var/lib/vrmonitor/alerts/journal.jsonl",
                                      "var/log/routerServiceMonitor.log"])
def test_kill_of_a_writer_in_the_middle_of_a_rotation(rotating_router, rotating):
    """A writer killed after the rename of .1 to .2, at the base's rename to .1: a gap at .1."""
    router = rotating_router
    base = router.vm.root / rotating
    target = base.with_name(base.name + ".1")
    daemon = router.start()
    wait_for(lambda: daemon.running() and router.vm.sees_service_up(), "the daemon sees the service up")
    written = 0
    while not target.exists():  # the first rotation, whole
        assert raise_alert(router.vm.root, written).returncode == 0
        written += 1
        assert written < 200, "no rotation"
    assert router.ms.new_alerts()  # the MS has the early alerts: polls.json exists
    for _ in range(200):  # the next rotation renames .1 to .2, then the base: killed there
        killed = raise_alert(router.vm.root, written, prefix=killed_at("rename", base))
        if killed.returncode in (-signal.SIGKILL, 128 + signal.SIGKILL):
            break
        assert killed.returncode == 0, killed.stderr
        written += 1
    else:
        raise AssertionError("no writer was killed at the rotation")
    assert base.exists() and not target.exists() and base.with_name(base.name + ".2").exists()
    # The daemon writes next (a service kill), then more writers, across more rotations.
    router.kill_service()
    wait_for(lambda: daemon.running() and len(daemon.alerts()) >= written + 2, "the daemon's alerts after the gap")
    for number in range(written + 100, written + 110):
        assert raise_alert(router.vm.root, number).returncode == 0
    journal = daemon.alerts()
    assert [a["seq"] for a in journal] == list(range(1, len(journal) + 1)), journal
    store = AlertStore(Paths(router.vm.root))
    legacy = b"".join(path.read_bytes() for path in reversed(store.log_generations()))
    assert legacy == "".join(a["line"] + "\n\n" for a in journal).encode()
    lines = [a["line"] for a in journal]
    undelivered = lines[len(router.ms.delivered):]
    assert router.ms.new_alerts() == undelivered
    assert router.ms.delivered == lines  # each alert exactly once, the early ones included
    daemon.stop()
    assert temps(router.vm.root) == []
