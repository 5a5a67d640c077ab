"""A reboot of the router under systemd (issue 14): vrmonitor starts at boot, raises no false
alert while the system goes down and comes back, keeps its alert sequence, and holds its
start-up grace until CloudStack writes boot_up_done.

The shipped unit as it is: under systemd-nspawn the daemon (ProtectKernelTunables=yes) reads
the host kernel's boot id, which a guest reboot does not change (system-vm-testbed.md, pitfall
11), and the monotonic clock goes on too. vrmonitor takes a new PID 1 as a new boot
(system/boot.py): before it did, the daemon carried the previous boot's PIDs into the new boot,
took the restarted haproxy and apache2 for namesakes on reused PIDs, and "recovered" them.
"""

import json
import time

import pytest

from tests.systemvm import layout
from tests.systemvm.layout import MONITORED

pytestmark = [pytest.mark.systemvm, pytest.mark.root]

WITHIN = 60.0


def wait(condition, what: str, within: float = WITHIN, describe=lambda: ""):
    return layout.wait(condition, what, within, describe)


def feed(router) -> list[dict]:
    done = router.guest.run(["vrmonitor", "alerts", "--format", "json"], check=True)
    return [json.loads(line) for line in done.stdout.splitlines()]


def services(router) -> dict:
    try:
        return json.loads(router.guest.path("/var/lib/vrmonitor/daemon.json").read_text())["services"]
    except (FileNotFoundError, ValueError, KeyError):
        return {}


def all_up(router) -> bool:
    seen = services(router)
    return all(router.unit_state(unit) == "active" and seen.get(section, {}).get("state") == "up"
               for section, _, unit, _ in MONITORED)


def journal(router) -> str:
    return router.guest.run(["journalctl", "-b", "--no-pager", "-n", "80", "-u", "vrmonitor"]).stdout


@pytest.fixture(scope="module")
def rebootable(router):
    wait(lambda: all_up(router), "all services seen up", describe=lambda: journal(router))
    return router


def test_a_reboot_raises_no_alert_and_the_sequence_goes_on(rebootable):
    router = rebootable
    router.guest.run(["vrmonitor", "raise-alert", "reboot-test", "before"], check=True)
    before = feed(router)
    router.guest.reboot()
    wait(lambda: router.unit_state("vrmonitor") == "active", "vrmonitor started at boot",
         describe=lambda: journal(router))
    wait(lambda: all_up(router), "every service up and seen up after the reboot",
         describe=lambda: journal(router))
    router.guest.run(["vrmonitor", "raise-alert", "reboot-test", "after"], check=True)
    after = feed(router)
    assert after[:len(before)] == before
    new = after[len(before):]
    assert [(a["name"], a["message"]) for a in new] == [("reboot-test", "after")], new
    assert new[0]["seq"] == before[-1]["seq"] + 1


def test_start_up_grace_holds_until_boot_up_done(rebootable):
    """dnsmasq disabled, so the boot does not start it: until CloudStack's boot_up_done of this
    boot, vrmonitor neither alerts nor starts it; then it does both, once."""
    router = rebootable
    guest = router.guest
    guest.run(["systemctl", "disable", "dnsmasq"], check=True)
    try:
        marks = len(feed(router))
        guest.reboot()  # boot_up_done is the previous boot's now
        wait(lambda: services(router).get("dhcp", {}).get("state") == "down",
             "dnsmasq seen down", describe=lambda: journal(router))
        time.sleep(5)
        assert router.unit_state("dnsmasq") == "inactive"
        assert "router still booting" in services(router)["dhcp"]["reason"]
        assert feed(router)[marks:] == []
        guest.run(["touch", "/var/cache/cloud/boot_up_done"], check=True)
        wait(lambda: router.unit_state("dnsmasq") == "active" and len(feed(router)) >= marks + 2,
             "dnsmasq started once the boot is done", describe=lambda: journal(router))
        time.sleep(1)
        assert [a["line"].split(" ", 2)[2] for a in feed(router)[marks:]] == [
            "[INFO] [dnsmasq] The process dnsmasq is not running trying recover",
            "[INFO] [dnsmasq] The process dnsmasq is recovered successfully "]
    finally:
        guest.run(["systemctl", "enable", "dnsmasq"])
