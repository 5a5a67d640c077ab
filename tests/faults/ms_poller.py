"""The management server's side of alerts and results, for fault tests on a VmRoot.

`install_entry_points` puts the CloudStack entry points under the root (the built-in checks it
also installs are removed: they would look at this machine's real services). `AlertPoller`
polls `getRouterAlerts.sh <last timestamp>` as the management server does (contract 2.5): it
sends back the newest timestamp it received, keeps it only when an answer parsed, and collects
every alert it was given, so a test can say "each alert exactly once".
"""

import subprocess
from pathlib import Path

from tests.ms_parsers import Answer, router_alerts
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths

FIRST_POLL = "1970-01-01 00:00:00"
ALERTS = "opt/cloud/bin/getRouterAlerts.sh"
RESULTS = "opt/cloud/bin/getRouterMonitorResults.sh"


def install_entry_points(root: Path) -> None:
    install(Paths(root))
    for builtin in (root / "root/health_checks").glob("*_check.py"):
        builtin.unlink()


def call_entry_point(root: Path, script: str, *args: str,
                     prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
    """An entry point as the management server runs it over SSH; `prefix` wraps it (strace)."""
    return subprocess.run([*prefix, str(root / script), *args], capture_output=True, text=True,
                          cwd="/", env={"PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}, timeout=120,
                          check=False)


def ms_answer(done: subprocess.CompletedProcess) -> Answer:
    """What the KVM agent hands to the management server (tests/ms_parsers.py): stderr merged
    in, each line ended, success only on exit 0. The streams are captured apart so that a test
    can also say stderr was empty; appending stderr is the merge whenever it is."""
    return Answer.of(done.stdout + done.stderr, done.returncode)


class AlertPoller:
    """op_router_monitoring_services.last_alert_timestamp, and every alert delivered so far."""

    def __init__(self, root: Path, prefix: tuple[str, ...] = ()):
        self.root = root
        self.prefix = prefix  # how the router runs the call (e.g. on its faked clock)
        self.last_timestamp = FIRST_POLL
        self.delivered: list[str] = []

    def poll(self, wrap: tuple[str, ...] = ()) -> subprocess.CompletedProcess:
        """One poll (`wrap`: e.g. strace); alerts and timestamp are kept only from an answer."""
        done = call_entry_point(self.root, ALERTS, *self.last_timestamp.split(" "),
                                prefix=(*wrap, *self.prefix))
        if done.returncode != 0:
            return done  # a failed call: the MS keeps its timestamp and asks again later
        alerts, timestamp = router_alerts(ms_answer(done))
        if alerts:
            self.delivered.extend(alerts)
            self.last_timestamp = timestamp
        return done

    def new_alerts(self) -> list[str]:
        """Poll once and return what that poll delivered (checked to be exit 0)."""
        before = len(self.delivered)
        done = self.poll()
        assert (done.returncode, done.stderr) == (0, ""), \
            f"getRouterAlerts.sh exit {done.returncode}: {done.stderr}"
        return self.delivered[before:]
