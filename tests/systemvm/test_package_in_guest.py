"""The .deb under systemd (issue 14): an upgrade restarts the daemon without losing an alert,
and a purge removes the unit and leaves the router's services running. A module of its own:
the purge ends its guest's life as a monitored router."""

import re
import time

import pytest

from tests import ms_parsers
from tests.systemvm.layout import MONITORED

pytestmark = [pytest.mark.systemvm, pytest.mark.root]

NEWER = "/tmp/vrmonitor-newer.deb"
ENTRY_POINT_AND_CHECK = ("/opt/cloud/bin/getRouterAlerts.sh", "/root/health_checks/dns_check.py")
RESTARTED_AT_ONCE = ("ssh", "dnsmasq", "haproxy", "apache2")  # the units given vrmonitor's RestartSec=0


def main_pid(router, unit: str) -> int:
    return int(router.unit_show(unit, "MainPID")[0] or 0)


def delivered(router, last: str) -> tuple[list[str], str]:
    """One poll of the management server: the alerts after `last`, and its new timestamp."""
    done = router.ssh(f"/opt/cloud/bin/getRouterAlerts.sh {last}")
    alerts, timestamp = ms_parsers.router_alerts(ms_parsers.Answer.of(done.stdout + done.stderr, done.returncode))
    return alerts, timestamp or last


def newer_build(router) -> str:
    """The installed .deb rebuilt with a higher version, as the next release would be."""
    deb = f"/srv/host/{router.deb.name}"
    guest = router.guest
    guest.run(["rm", "-rf", "/tmp/newer"], check=True)
    guest.run(["dpkg-deb", "-R", deb, "/tmp/newer"], check=True)
    control = guest.path("/tmp/newer/DEBIAN/control")
    text = control.read_text()
    version = re.search(r"^Version: (\S+)$", text, re.M).group(1)
    control.write_text(text.replace(f"Version: {version}", f"Version: {version}+test1"))
    guest.run(["dpkg-deb", "--root-owner-group", "-b", "/tmp/newer", NEWER], check=True)
    return f"{version}+test1"


def test_an_upgrade_restarts_the_daemon_and_loses_no_alert(router):
    guest = router.guest
    alerts, last = delivered(router, "1970-01-01 00:00:00")
    guest.run(["vrmonitor", "raise-alert", "upgrade-test", "before"], check=True)
    before = main_pid(router, "vrmonitor")
    placed = [guest.path(p) for p in ENTRY_POINT_AND_CHECK]
    inodes = [path.stat().st_ino for path in placed]
    version = newer_build(router)
    done = guest.run(["dpkg", "-i", NEWER], timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "not refreshed" not in done.stderr, done.stderr
    # What `vrmonitor compat install` placed was rewritten by the new version (a new file each).
    assert all(path.stat().st_ino != inode for path, inode in zip(placed, inodes))
    assert "installed by `vrmonitor compat install`; bound to root /." in placed[0].read_text()
    assert "from vrmonitor.compat.entry import call" in placed[1].read_text()
    assert guest.run(["dpkg-query", "-W", "-f=${Version}", "vrmonitor"]).stdout == version
    deadline = time.monotonic() + 30
    while not (router.unit_state("vrmonitor") == "active" and main_pid(router, "vrmonitor") not in (0, before)):
        assert time.monotonic() < deadline, "the daemon was not restarted by the upgrade"
        time.sleep(0.1)
    guest.run(["vrmonitor", "raise-alert", "upgrade-test", "after"], check=True)
    alerts, _ = delivered(router, last)
    assert [line.split(" ", 2)[2] for line in alerts] == ["[ALERT] [upgrade-test] before",
                                                          "[ALERT] [upgrade-test] after"]
    journal = guest.run(["journalctl", "-b", "--no-pager", "-u", "vrmonitor"]).stdout
    assert "recover" not in journal  # no service was found down across the upgrade


def test_purge_removes_the_unit_and_leaves_the_services_running(router):
    guest = router.guest
    pids = {unit: main_pid(router, unit) for _, _, unit, _ in MONITORED}
    done = guest.run(["dpkg", "--purge", "vrmonitor"], timeout=180)
    assert done.returncode == 0, done.stdout + done.stderr
    load = router.unit_show("vrmonitor", "LoadState")[0]
    assert load == "not-found", load
    assert not guest.path("/lib/systemd/system/vrmonitor.service").exists()
    assert guest.run(["pgrep", "-f", "vrmonitor run"]).returncode == 1  # no daemon left
    assert {unit: (router.unit_state(unit), main_pid(router, unit)) for unit in pids} == \
        {unit: ("active", pid) for unit, pid in pids.items()}
    # The restart drop-ins went with the package: the units' own hold-off is back.
    assert {unit: router.unit_show(unit, "RestartUSec")[0] for unit in RESTARTED_AT_ONCE} == \
        {unit: "100ms" for unit in RESTARTED_AT_ONCE}
    assert router.unit_show("dnsmasq", "Restart")[0] == "no"  # Debian's own unit again
