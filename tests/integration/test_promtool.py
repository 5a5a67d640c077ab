"""The shipped Prometheus rules (contrib/prometheus), checked and unit-tested by Debian's promtool,
and every alert in them covered by a test that fires it and one that shows it silent."""

import re
import shutil
import subprocess
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]
RULES = PROJECT / "contrib/prometheus/vrmonitor.rules.yml"
TESTS = PROJECT / "contrib/prometheus/vrmonitor.rules.test.yml"


def promtool(*args: str) -> subprocess.CompletedProcess:
    tool = shutil.which("promtool")
    assert tool, "promtool missing: Debian's prometheus package (scripts/setup-test-env)"
    return subprocess.run([tool, *args], capture_output=True, text=True, timeout=120, check=False,
                          cwd=RULES.parent)


def test_promtool_check_rules_accepts_them():
    done = promtool("check", "rules", RULES.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 21 rules found" in done.stdout


def test_promtool_test_rules_passes():
    done = promtool("test", "rules", TESTS.name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.strip().endswith("SUCCESS")


def test_every_alert_is_tested_firing_and_silent():
    alerts = re.findall(r"^\s*- alert: (\w+)$", RULES.read_text(), re.MULTILINE)
    assert len(alerts) == 12
    firing, silent = set(), set()
    # Each alert_rule_test entry: its alertname, then `exp_alerts: []` or a list.
    for name, expected in re.findall(r"alertname: (\w+)\n\s*exp_alerts:(.*)", TESTS.read_text()):
        (silent if expected.strip() == "[]" else firing).add(name)
    assert set(alerts) - firing == set()
    assert set(alerts) - silent == set()
