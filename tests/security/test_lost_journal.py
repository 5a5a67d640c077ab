"""A lost journal must not hide new alerts (issue 15, class 4).

polls.json maps the timestamp the management server sends back to the journal seq of the
answer's newest line. A journal emptied, deleted or replaced by an older copy while polls.json
survives numbers its alerts anew, so that seq names another alert or none: the feed must notice
(each record carries its journal's epoch, and the remembered record must still be there) and
answer every alert newer than the timestamp, by time. Through the installed getRouterAlerts.sh,
byte for byte.
"""

import json
import shutil
import subprocess
from datetime import datetime

import pytest

from vrmonitor.alerts.feed import json_feed
from vrmonitor.alerts.store import AlertStore
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.cloudstack.alert_line import answer
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths


class Clock:
    def __init__(self, when: str):
        self.now = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").timestamp()

    def wall(self) -> float:
        return self.now


@pytest.fixture
def paths(tmp_path) -> Paths:
    return Paths(tmp_path)


def get_router_alerts(paths: Paths, *args: str) -> str:
    """getRouterAlerts.sh's stdout; exit 0 and an empty stderr are part of the contract."""
    install(paths)
    done = subprocess.run([str(paths.under("/opt/cloud/bin/getRouterAlerts.sh")), *args],
                          capture_output=True, env={"PATH": "/usr/bin:/bin"}, timeout=30, check=False)
    assert (done.returncode, done.stderr) == (0, b"")
    return done.stdout.decode()


class Router:
    """Alerts one second apart from 10:00:00, and the management server's polls."""

    def __init__(self, paths: Paths):
        self.paths = paths
        self.store = AlertStore(paths)
        self.clock = Clock("2024-05-01 10:00:00")
        self.writer = AlertWriter(paths, clock=self.clock)
        self.known = "1970-01-01 00:00:00"  # the management server's timestamp

    def alerts(self, *messages: str, same_second: bool = False) -> list[str]:
        lines = []
        for message in messages:
            if not same_second:
                self.clock.now += 1
            lines.append(self.writer.write("INFO", "svc", message).line)
        return lines

    def poll(self) -> str:
        out = get_router_alerts(self.paths, *self.known.split(" "))
        if out != "No Alerts\n":
            self.known = out.split("\\n")[-2].split(",")[0]  # as the management server reads it
        return out


def test_an_emptied_journal_still_delivers_every_new_alert(paths):
    router = Router(paths)
    old = router.alerts("one", "two", "three")
    assert router.poll() == answer(old)
    router.store.journal.write_bytes(b"")  # emptied; polls.json survives
    new = router.alerts("four", "five")
    assert router.poll() == answer(new)
    # Answers are remembered in the new journal: an alert in the same second still arrives.
    later = router.alerts("six", same_second=True)
    assert router.poll() == answer(later)
    assert router.poll() == "No Alerts\n"


def test_a_deleted_journal_whose_new_seqs_pass_the_remembered_one_loses_none(paths):
    router = Router(paths)
    assert router.poll() == "No Alerts\n"
    old = router.alerts("one", "two")
    assert router.poll() == answer(old)
    router.store.journal.unlink()
    new = router.alerts("three", "four", "five", "six")  # seqs 1..4: past the remembered 2
    assert router.poll() == answer(new)


def test_an_emptied_journal_without_new_alerts_answers_no_alerts(paths):
    router = Router(paths)
    old = router.alerts("one", "two")
    assert router.poll() == answer(old)
    router.store.journal.write_bytes(b"")
    assert router.poll() == "No Alerts\n"
    assert router.poll() == "No Alerts\n"
    new = router.alerts("three")
    assert router.poll() == answer(new)


@pytest.mark.parametrize("written_since", [1, 4])
def test_a_journal_replaced_by_an_older_copy_delivers_every_new_alert(paths, tmp_path, written_since):
    """Same epoch, seqs gone backwards: fewer new alerts than were lost, or more."""
    router = Router(paths)
    router.alerts("one")
    shutil.copy(router.store.journal, tmp_path / "backup.jsonl")
    assert router.poll() != "No Alerts\n"
    router.alerts("two", "three")
    assert router.poll() != "No Alerts\n"  # remembered: seq 3
    shutil.copy(tmp_path / "backup.jsonl", router.store.journal)  # back to seq 1
    new = router.alerts(*(f"new {i}" for i in range(written_since)))
    assert router.poll() == answer(new)


def test_each_record_carries_its_journals_epoch_and_an_emptied_journal_gets_a_new_one(paths):
    router = Router(paths)
    router.alerts("one", "two")
    first = [record["epoch"] for record in json_feed(router.store, after=0)]
    assert len(set(first)) == 1 and len(first[0]) >= 16
    router.store.journal.write_bytes(b"")
    router.alerts("three")
    [again] = json_feed(router.store, after=0)
    assert again["seq"] == 1 and again["epoch"] != first[0]


def test_a_journal_and_polls_file_from_before_epochs_still_continue_by_seq(paths):
    """An upgraded router: records without an epoch and polls.json's bare seqs keep working,
    so an alert in the answer's own second still arrives (by time it would be lost)."""
    router = Router(paths)
    old = router.alerts("one", "two")
    records = [json.loads(line) for line in router.store.journal.read_text().splitlines()]
    router.store.journal.write_text("".join(
        json.dumps({k: v for k, v in record.items() if k != "epoch"}) + "\n" for record in records))
    router.store.polls_file.write_text(json.dumps({"2024-05-01 10:00:02": 2}))
    router.known = "2024-05-01 10:00:02"
    same_second = router.alerts("three", same_second=True)
    assert router.poll() == answer(same_second)
    assert router.poll() == "No Alerts\n" and old
