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
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import require_root
from tests.vmroot import FAST_SERVICES_TOML, VmRoot, check_script
from tests.waiting import wait_for
from vrmonitor.cloudstack.alert_line import SEVERITIES, parse_line

pytestmark = [pytest.mark.root, pytest.mark.slow]

KILLS = 20
PREFILL = 10  # alerts written through `vrmonitor raise-alert` before the first kill
SEED = 20240501
CHECKS = {  # name -> (kind, seconds, exit status)
    "slow_a_check.sh": ("basic", 0.2, 0),
    "slow_b_check.sh": ("basic", 0.35, 0),
    "slow_fail_check.sh": ("basic", 0.5, 1),
    "slow_adv_check.sh": ("advanced", 0.3, 0),
}
TOML = "[alerts]\nmax_bytes = 4096\nbackups = 50\n" + FAST_SERVICES_TOML


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
    require_root("the crash test")
    rng = random.Random(SEED)
    folder = Path(tempfile.mkdtemp(prefix="vrmonitor-crash-"))
    crash = VmRoot(folder, tag="crash")
    during_checks = during_alerts = 0
    try:
        crash.build(TOML, {name: check_script(kind, seconds, status, f"{name}: {'x' * 200} done")
                           for name, (kind, seconds, status) in CHECKS.items()})
        started = crash.service_ctl("start")
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
