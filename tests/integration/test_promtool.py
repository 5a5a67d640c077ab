"""Debian's promtool on what the project ships: the export's text (`promtool check metrics` has
nothing to say), and the rules of contrib/prometheus, checked and unit-tested, every alert in
them covered by a test that fires it and one that shows it silent. Here, not in tests/unit:
they need the prometheus package, which the .deb's build-time tests do not have."""

import re
import shutil
import subprocess
from pathlib import Path

from tests.unit.test_prometheus_metrics import NINE_CHECKS, picture
from vrmonitor.export import prometheus

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


def test_promtool_finds_nothing_to_say_on_the_export():
    tool = shutil.which("promtool")
    assert tool, "promtool missing: Debian's prometheus package (scripts/setup-test-env)"
    checks = {name: [{"time": 1.0, "status": "fail"}] for name in NINE_CHECKS}
    text = prometheus.render(picture(checks=checks))
    done = subprocess.run([tool, "check", "metrics"], input=text, capture_output=True, text=True,
                          timeout=60, check=False)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")
