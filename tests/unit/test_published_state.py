"""daemon.json after a refused write: retried, not forgotten until the services change again.

A reader of daemon.json (`vrmonitor status`, the basic health run's services check) would
otherwise see, after a full disk cleared, the services as they were before the outage: a
service restarted meanwhile would read as down until its next change."""

import json
import logging
import math

from vrmonitor.daemon.published_state import RETRY_AFTER, StatePublisher

IDENTITY = {"started": 1_700_000_000.0, "started_ticks": 42, "boot_start": 1_699_999_000.0, "init": "sysv"}


class Services:
    """The monitor's side the publisher reads."""

    def __init__(self, picture):
        self.picture = picture

    def snapshot(self, wall):
        return self.picture

    def summary(self):
        return f"{len(self.picture)} services"


def test_a_refused_write_is_retried_on_its_own_and_logged_once(tmp_path, caplog):
    state_dir = tmp_path / "state"
    state_dir.write_text("")  # a file where the folder belongs: every write is refused (ENOTDIR)
    path = state_dir / "daemon.json"
    now = [10.0]
    services = Services({"ssh": {"state": "up", "pid": 100}})
    changes = []
    publisher = StatePublisher(path, services, lambda: 1_700_000_000.0 + now[0], IDENTITY, changes.append,
                               lambda: now[0])
    assert publisher.next_due() == math.inf
    with caplog.at_level(logging.WARNING, logger="vrmonitor.daemon.published_state"):
        publisher.tick(now[0])
        assert changes == ["1 services"] and state_dir.is_file()
        assert publisher.next_due() == 10.0 + RETRY_AFTER  # the loop wakes for the retry
        services.picture = {"ssh": {"state": "up", "pid": 200}}  # restarted during the outage
        now[0] = 10.5
        publisher.tick(now[0])  # a change is tried at once, and refused again
        assert changes == ["1 services", "1 services"] and publisher.next_due() == 10.5 + RETRY_AFTER
        state_dir.unlink()
        state_dir.mkdir()  # writes are taken again
        now[0] = 11.0
        publisher.tick(now[0])
        assert not path.exists()  # not before its retry time
        now[0] = 10.5 + RETRY_AFTER
        publisher.tick(now[0])
    written = json.loads(path.read_text())
    assert written["services"] == {"ssh": {"state": "up", "pid": 200}}
    assert {key: written[key] for key in IDENTITY} == IDENTITY
    assert publisher.next_due() == math.inf and changes == ["1 services", "1 services"]  # no change since
    errors = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert len(errors) == 1 and str(path) in errors[0], errors
    assert [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING] == [f"{path} written again"]


def test_an_unchanged_picture_is_written_once(tmp_path):
    path = tmp_path / "daemon.json"
    publisher = StatePublisher(path, Services({}), lambda: 1_700_000_000.0, IDENTITY, lambda summary: None,
                               lambda: 0.0)
    assert publisher.publish() is True
    first = path.stat().st_mtime_ns, path.stat().st_ino
    assert publisher.publish() is False
    assert (path.stat().st_mtime_ns, path.stat().st_ino) == first
