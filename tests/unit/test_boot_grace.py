"""Start-up grace on the clocks a router can have: a marker from this boot or an earlier one,
written before or after a wall clock step (services/boot_grace.py)."""

import os

import pytest

from vrmonitor.services.boot_grace import boot_start_now, still_booting

BOOT = 1_800_000_000.0  # this boot's start on the wall clock, before any step
HOUR = 3600.0
GRACE = 300.0


@pytest.fixture
def cache(tmp_path):
    folder = tmp_path / "var/cache/cloud"
    folder.mkdir(parents=True)
    return folder


def mark(cache, written: float) -> None:
    marker = cache / "boot_up_done"
    marker.touch()
    os.utime(marker, (written, written))


def booting(cache, uptime: float, step: float = 0.0, first_start: float = BOOT) -> bool:
    """At `uptime` s after boot, with the wall clock stepped by `step` since the boot began."""
    return still_booting(cache, GRACE, first_start, BOOT + uptime + step, uptime)


def test_no_marker_yet_is_booting_until_the_grace_ends(cache):
    assert booting(cache, 10)
    assert booting(cache, GRACE - 1)
    assert not booting(cache, GRACE)


def test_a_marker_of_this_boot_ends_the_grace(cache):
    mark(cache, BOOT + 40)
    assert not booting(cache, 60)


def test_a_marker_left_by_an_earlier_boot_does_not(cache):
    mark(cache, BOOT - 600)
    assert booting(cache, 60)


def test_a_machine_without_the_cloud_cache_is_no_system_vm_and_has_no_grace(tmp_path):
    assert not still_booting(tmp_path / "var/cache/cloud", GRACE, BOOT, BOOT + 10, 10)


def test_a_forward_step_after_the_marker_was_written(cache):
    # Reckoned now, the boot began an hour later than the marker: the first reckoning knows better.
    mark(cache, BOOT + 40)
    assert not booting(cache, 60, step=HOUR)
    # A daemon first started after the step has only today's reckoning (a limit, documented).
    assert booting(cache, 60, step=HOUR, first_start=boot_start_now(BOOT + 60 + HOUR, 60))


def test_a_backward_step_before_the_marker_was_written(cache):
    # Written on the stepped-back clock: older than the first reckoning, newer than today's.
    mark(cache, BOOT + 40 - HOUR)
    assert not booting(cache, 60, step=-HOUR)
    mark(cache, BOOT - 600 - HOUR)  # an earlier boot's marker is still older than both
    assert booting(cache, 60, step=-HOUR)
