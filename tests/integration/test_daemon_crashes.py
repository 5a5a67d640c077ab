"""kill -9 of the daemon, 20 times, at random moments during health runs and alert writing.

The root has four checks of 0.2-0.5 s (one always fails, one is advanced) and a watched `sleep`
service whose init script restarts it. Every start of the daemon begins with a basic and an
advanced run; half of the kills wait for a check of that run to be running, the other half kill
the service first and the daemon a few milliseconds later, while it writes its alerts and
restarts the service. Alerts rotate at 4096 bytes (ten long alerts written through
`vrmonitor raise-alert` first make sure of it), so kills also meet rotations. The kill
moments come from a seeded random.Random. After each kill the daemon is started again; after
the last, one clean run and SIGTERM. Then:

- every JSON file vrmonitor wrote (results, daemon state, check history) is valid JSON, the
  failing-checks file names the failing check, and no temporary file is left;
- `vrmonitor alerts --format json --after 0` gives seq 1..N, no gap, no repeat, and the
  journal holds exactly those records;
- every line of the legacy log (all generations) is intact: parse_line reads it, and it is one
  of the journal's lines, in journal order, once.
"""

import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

from vrmonitor.cloudstack.alert_line import SEVERITIES, parse_line

pytestmark = [pytest.mark.root, pytest.mark.slow]

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
KILLS = 20
PREFILL = 10  # alerts written through `vrmonitor raise-alert` before the first kill
SEED = 20240501
CHECKS = {  # name -> (kind, seconds, exit status)
    "slow_a_check.sh": ("basic", 0.2, 0),
    "slow_b_check.sh": ("basic", 0.35, 0),
    "slow_fail_check.sh": ("basic", 0.5, 1),
    "slow_adv_check.sh": ("advanced", 0.3, 0),
}


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.fail("the crash test needs root (an init script in /etc/init.d, `service`); "
                    "CI runs it as root", pytrace=False)


def wait_for(condition, what: str, within: float = 20.0):
    end = time.monotonic() + within
    while time.monotonic() < end:
        value = condition()
        if value:
            return value
        time.sleep(0.01)
    raise AssertionError(f"not within {within} s: {what}")


class CrashRoot:
    def __init__(self, folder: Path):
        self.root = folder / "vm"
        tag = f"{os.getpid()}-{time.time_ns()}"
        self.service = f"vrmonitor-crash-{os.getpid()}"
        self.init_script = Path("/etc/init.d") / self.service
        self.pidfile = self.root / "run/crash-svc.pid"
        self.mark = f"VRMONITOR_CRASH_MARK={tag}"
        self.daemon: subprocess.Popen | None = None

    def build(self) -> None:
        for folder in ("", "root", "root/health_checks", "etc", "etc/vrmonitor", "run"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / folder, 0o755)
        os.chmod(self.root.parent, 0o755)
        (self.root / "etc/monitor.conf").write_text(
            f"[crashsvc]\nprocessname=sleep\nservicename={self.service}\npidfile={self.pidfile}\n")
        (self.root / "etc/vrmonitor/vrmonitor.toml").write_text(
            "[alerts]\nmax_bytes = 4096\nbackups = 50\n"
            "[services]\nverify_interval = 0.5\nbackoff_initial = 0.1\nbackoff_max = 0.5\n"
            "restart_attempts = 100\n")
        (self.root / "root/health_checks_data.json").write_text(json.dumps({
            "health_checks_basic_run_interval": 1, "health_checks_advanced_run_interval": 1,
            "health_checks_enabled": True, "excluded_health_checks": [], "health_checks_config": {}}))
        for name, (kind, seconds, status) in CHECKS.items():
            script = self.root / "root/health_checks" / name
            script.write_text(f'#!/bin/sh\n[ "$1" = {kind} ] || exit 0\nsleep {seconds}\n'
                              f'echo "{name}: {"x" * 200} done"\nexit {status}\n')
            script.chmod(0o755)
        self.init_script.write_text(f"""#!/bin/sh
# vrmonitor's crash test (tests/integration/test_daemon_crashes.py); removed by the test.
PIDFILE={self.pidfile}
case "$1" in
  start) env {self.mark} start-stop-daemon --start --quiet --background --make-pidfile \\
           --pidfile "$PIDFILE" --exec /usr/bin/sleep -- 86400 ;;
  stop) start-stop-daemon --stop --quiet --oknodo --retry 5 --pidfile "$PIDFILE" --exec /usr/bin/sleep
        rm -f "$PIDFILE" ;;
  restart) "$0" stop && "$0" start ;;
  status) start-stop-daemon --status --pidfile "$PIDFILE" --exec /usr/bin/sleep ;;
  *) exit 2 ;;
esac
""")
        self.init_script.chmod(0o755)

    def vrmonitor(self, *args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(self.root), *args],
                              check=False, capture_output=True, text=True, env=ENV, timeout=60)

    def start_daemon(self) -> subprocess.Popen:
        self.daemon = subprocess.Popen(
            [sys.executable, "-m", "vrmonitor", "--root", str(self.root), "run", "--foreground"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=ENV)
        return self.daemon

    def service_pid(self) -> int | None:
        """The pidfile's PID when it is a live `sleep` started by this test's init script."""
        return next(iter(self.marked([self.pidfile])), None)

    def marked(self, pidfiles=None) -> list[int]:
        """Live processes carrying this test's mark (from the pidfile only, or all of them)."""
        if pidfiles is not None:
            candidates = []
            for pidfile in pidfiles:
                try:
                    candidates.append(int(pidfile.read_text().strip()))
                except (FileNotFoundError, ValueError):
                    pass
        else:
            candidates = [int(e) for e in os.listdir("/proc") if e.isdigit()]
        found = []
        for pid in candidates:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:  # gone, or not ours to read (PID 1 here)
                continue
            if self.mark.encode() in environ and state != "Z":
                found.append(pid)
        return found

    def state(self) -> dict:
        try:
            return json.loads((self.root / "var/lib/vrmonitor/daemon.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def sees_service_up(self) -> bool:
        state = self.state()
        return (state.get("pid") == self.daemon.pid
                and state.get("services", {}).get("crashsvc", {}).get("state") == "up")

    def running_checks(self) -> list[int]:
        """PIDs of the daemon's children that are health checks."""
        pids = []
        for task in Path(f"/proc/{self.daemon.pid}/task").glob("*"):
            try:
                pids.extend(int(p) for p in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
        checks = []
        for pid in pids:
            try:
                if b"/health_checks/" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    checks.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        return checks

    def alive(self) -> None:
        if self.daemon.poll() is not None:
            raise AssertionError(f"the daemon exited {self.daemon.returncode}: {self.daemon.stderr.read()}")

    def kill_daemon(self) -> None:
        os.kill(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait()
        self.daemon.stderr.close()

    def cleanup(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        if self.init_script.exists():
            subprocess.run(["service", self.service, "stop"], check=False, capture_output=True,
                           timeout=30, env=ENV)
            self.init_script.unlink()
        for pid in self.marked():  # a sleep restarted by an init script a killed daemon ran
            os.kill(pid, signal.SIGKILL)


def generations(base: Path) -> list[Path]:
    """base.N ... base.1, base: every generation present, oldest first (gaps tolerated)."""
    numbered = []
    for path in base.parent.glob(base.name + ".*"):
        suffix = path.name[len(base.name) + 1:]
        if suffix.isdigit():
            numbered.append((int(suffix), path))
    assert not list(base.parent.glob(base.name + ".*.gz")), "nothing compresses in this test"
    return [path for _, path in sorted(numbered, reverse=True)] + ([base] if base.exists() else [])


def test_kill_9_at_random_moments_leaves_valid_files_and_a_gapless_alert_journal():
    require_root()
    rng = random.Random(SEED)
    folder = Path(tempfile.mkdtemp(prefix="vrmonitor-crash-"))
    crash = CrashRoot(folder)
    during_checks = during_alerts = 0
    try:
        crash.build()
        started = subprocess.run(["service", crash.service, "start"], check=False, capture_output=True,
                                 text=True, timeout=30, env=ENV)
        assert started.returncode == 0, started.stderr
        wait_for(crash.service_pid, "the service started")
        for n in range(PREFILL):  # the journal crosses its 4096-byte limit before the kills too
            raised = crash.vrmonitor("raise-alert", "--severity", "INFO", "crash-test",
                                     f"prefill {n} " + "y" * 300)
            assert raised.returncode == 0, raised.stderr
        for n in range(KILLS):
            crash.start_daemon()
            if rng.random() < 0.5:
                # During the health runs every start begins with: once a check runs, a bit later.
                wait_for(lambda: crash.alive() or crash.running_checks(), "a check of the first run")
                time.sleep(rng.uniform(0.0, 0.6))
                during_checks += bool(crash.running_checks())
            else:
                # During alert writing: the service dies and the daemon a few ms after it.
                victim = wait_for(lambda: crash.alive() or (crash.sees_service_up() and crash.service_pid()),
                                  "the daemon sees the service up")
                os.kill(victim, signal.SIGKILL)
                time.sleep(rng.uniform(0.0, 0.08))
                during_alerts += 1
            crash.kill_daemon()
        # One more start: it settles (service up, a full run of each kind), then stops cleanly.
        daemon = crash.start_daemon()
        settled_after = time.time()
        results = [crash.root / f"root/{kind}_monitor_results.json" for kind in ("basic", "advanced")]
        wait_for(lambda: crash.alive() or (crash.sees_service_up() and all(
            p.exists() and p.stat().st_mtime > settled_after for p in results)), "a clean run", within=40)
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=30) == 0, daemon.stderr.read()
        daemon.stderr.close()

        # Every JSON file is whole.
        json_files = [*crash.root.joinpath("root").glob("*.json"),
                      *crash.root.joinpath("var/lib/vrmonitor").rglob("*.json")]
        assert {p.name for p in json_files} >= {"basic_monitor_results.json", "advanced_monitor_results.json",
                                                "daemon.json", "health-history.json"}
        for path in json_files:
            try:
                json.loads(path.read_bytes())
            except ValueError as exc:
                raise AssertionError(f"{path} is not valid JSON after the kills: {exc}") from None
        basic = json.loads(results[0].read_bytes())
        assert basic["slow_fail_check.sh"]["success"] == "false"
        assert basic["crashsvc.service"]["success"] == "true"
        assert (crash.root / "root/basic_failing_health_checks").read_text() == "slow_fail_check.sh"
        assert not (crash.root / "root/advanced_failing_health_checks").exists()
        leftovers = [str(p) for p in crash.root.rglob("*.tmp-*")]
        assert leftovers == [], f"temporary files left behind: {leftovers}"

        # The journal: seq 1..N, nothing lost or repeated, and what the feed says.
        feed = crash.vrmonitor("alerts", "--format", "json", "--after", "0")
        assert feed.returncode == 0, feed.stderr
        alerts = [json.loads(line) for line in feed.stdout.splitlines()]
        seqs = [alert["seq"] for alert in alerts]
        assert seqs == list(range(1, len(seqs) + 1)), f"gaps or repeats: {seqs}"
        journal_lines = []
        for path in generations(crash.root / "var/lib/vrmonitor/alerts/journal.jsonl"):
            for raw in path.read_bytes().split(b"\n"):
                if raw:
                    journal_lines.append(json.loads(raw))
        assert [record["seq"] for record in journal_lines] == seqs
        assert [record["line"] for record in journal_lines] == [alert["line"] for alert in alerts]
        assert len(generations(crash.root / "var/lib/vrmonitor/alerts/journal.jsonl")) > 1, "no rotation met"

        # The legacy log: every line intact and one of the journal's, in order, once.
        lines = []
        for path in generations(crash.root / "var/log/routerServiceMonitor.log"):
            lines.extend(line for line in path.read_text().split("\n") if line)
        for line in lines:
            parsed = parse_line(line)
            assert parsed is not None and parsed.severity in SEVERITIES and parsed.name, f"torn: {line!r}"
        by_line = [alert["line"] for alert in alerts]
        assert len(set(lines)) == len(lines), "a legacy line written twice"
        unknown = [line for line in lines if line not in set(by_line)]
        assert unknown == [], f"legacy lines the journal does not have: {unknown}"
        positions = [by_line.index(line) for line in lines]
        assert positions == sorted(positions), "legacy lines out of journal order"
        # The writer appends the journal record, then the legacy line, microseconds apart under
        # the lock: a kill exactly between them would leave the journal one line ahead.
        missing = [line for line in by_line if line not in set(lines)]
        assert missing == [], f"journal records without a legacy line: {missing}"
        assert len(alerts) >= PREFILL + KILLS // 2, f"only {len(alerts)} alerts were written"
        assert during_checks >= 3 and during_alerts >= 3, (during_checks, during_alerts)
        print(f"{KILLS} kills: {during_checks} with a check running, {during_alerts} right after a "
              f"service kill; {len(alerts)} alerts, {len(generations(crash.root / 'var/lib/vrmonitor/alerts/journal.jsonl'))} "
              "journal generations")
    finally:
        crash.cleanup()
        shutil.rmtree(folder, ignore_errors=True)
