"""vrmonitor's own state, damaged (issue 15, class 3): daemon.json, health-history.json,
polls.json and the alert journal are read as untrusted input.

The rule: a damaged file is logged once (the file and what is wrong), renamed aside to
`<name>.damaged-<UTC time>` and rebuilt; its reader goes on as if it were absent. Never a crash
loop, never a blocked reader (a FIFO), never a followed symlink.
"""

import json
import logging
import os
import selectors
import signal
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.fuzz.hang_guard import no_hang
from tests.vmroot import sleeping_router
from vrmonitor.alerts.feed import json_feed
from vrmonitor.alerts.store import AlertStore
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.cloudstack.alert_line import answer
from vrmonitor.compat.install import install
from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.config.settings import ServiceSettings, Settings
from vrmonitor.daemon.composition import Daemon
from vrmonitor.daemon.textfile_export import TextfileExport
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.health.services import daemon_services
from vrmonitor.paths import Paths
from vrmonitor.services.monitor import Outcome, ServiceMonitor
from vrmonitor.system.boot import boot_key

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(PROJECT)}


@pytest.fixture
def paths(tmp_path) -> Paths:
    paths = Paths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    return paths


def aside(path: Path) -> list[Path]:
    """The copies of `path` set aside as damaged."""
    return sorted(path.parent.glob(f"{path.name}.damaged-*"))


def warned(caplog, path: Path) -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and str(path) in r.getMessage()]


class FakeInit:
    name = "sysv"


def vrmonitor(paths: Paths, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(paths.root), *args],
                          capture_output=True, text=True, env=ENV, timeout=60, check=False)


def previous_state(paths: Paths) -> dict:
    """What a daemon starting on this root carries on from ({}: nothing)."""
    return Daemon(paths, Settings(), init=FakeInit())._previous_state()


class Clock:
    def __init__(self, when: str):
        self.now = datetime.strptime(when, "%Y-%m-%d %H:%M:%S").timestamp()

    def wall(self) -> float:
        return self.now


# --- daemon.json ---

def sound_state(**services) -> dict:
    return {"pid": 1, "started": 1.0, "started_ticks": 1, "boot": boot_key(),
            "boot_start": 1.0, "updated": 1.0, "init": "sysv", "services": services}


def deep(path: Path) -> None:
    path.write_bytes(b"[" * 100_000)


def wrong_typed_service(path: Path) -> None:
    path.write_text(json.dumps(sound_state(svc="up")))


def wrong_typed_field(path: Path) -> None:
    path.write_text(json.dumps(sound_state(svc={"processname": "sleep", "since": "yesterday",
                                                 "failed_attempts": "3"})))


def not_json(path: Path) -> None:
    path.write_bytes(b'{"pid": 12, "services": ')


def empty(path: Path) -> None:
    path.write_bytes(b"")


def infinite_time(path: Path) -> None:
    path.write_bytes(b'{"pid": 1, "started_ticks": 1, "updated": Infinity}')


def fifo(path: Path) -> None:
    os.mkfifo(path)


DAMAGES = [deep, wrong_typed_service, wrong_typed_field, not_json, empty, infinite_time, fifo]


@pytest.mark.parametrize("damage", DAMAGES, ids=lambda damage: damage.__name__)
def test_a_damaged_daemon_state_is_logged_set_aside_and_read_as_absent(paths, caplog, damage):
    caplog.set_level(logging.WARNING)
    damage(paths.daemon_state)
    with no_hang(5, "reading daemon.json"):
        assert previous_state(paths) == {}
        assert daemon_services(paths) is None  # a basic run's view: no daemon, a one-shot pass
    assert not os.path.lexists(paths.daemon_state)
    assert len(aside(paths.daemon_state)) == 1
    assert len(warned(caplog, paths.daemon_state)) == 1
    assert "set aside as daemon.json.damaged-" in warned(caplog, paths.daemon_state)[0]


def test_the_warning_names_the_field_that_is_wrong(paths, caplog):
    caplog.set_level(logging.WARNING)
    wrong_typed_field(paths.daemon_state)
    assert previous_state(paths) == {}
    assert "services.svc.since: 'yesterday' is not a number" in warned(caplog, paths.daemon_state)[0]


def test_a_symlinked_daemon_state_is_not_followed(paths, caplog, tmp_path):
    caplog.set_level(logging.WARNING)
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps(sound_state()))
    paths.daemon_state.symlink_to(elsewhere)
    assert previous_state(paths) == {}
    [moved] = aside(paths.daemon_state)
    assert moved.is_symlink() and elsewhere.read_text() == json.dumps(sound_state())
    assert "a symbolic link, not followed" in warned(caplog, paths.daemon_state)[0]


def test_a_sound_daemon_state_still_loads(paths, caplog):
    paths.daemon_state.write_text(json.dumps(sound_state(svc={"processname": "sleep", "since": 5.5,
                                                              "blocked": None, "future_key": [1]})))
    assert previous_state(paths)["services"]["svc"]["since"] == 5.5
    assert aside(paths.daemon_state) == [] and caplog.records == []


def test_at_most_a_few_damaged_copies_are_kept(paths):
    from vrmonitor.system import state_file

    for _ in range(state_file.KEEP_DAMAGED + 9):
        not_json(paths.daemon_state)
        assert previous_state(paths) == {}
    assert len(aside(paths.daemon_state)) == state_file.KEEP_DAMAGED


def test_status_shows_a_damaged_daemon_state_as_no_state(paths):
    wrong_typed_field(paths.daemon_state)
    done = vrmonitor(paths, "status")
    assert done.returncode == 3, done
    assert "daemon: NOT RUNNING (no state" in done.stdout
    assert str(paths.daemon_state) in done.stderr and "Traceback" not in done.stderr
    assert len(aside(paths.daemon_state)) == 1


def monitor_with(paths: Paths, previous: dict, pidfile: Path) -> ServiceMonitor:
    entry = ServiceEntry("svc", "sleep", "sleepsvc", str(pidfile))
    return ServiceMonitor(lambda: ((entry,), "conf"), ServiceSettings(), AlertWriter(paths),
                          FakeInit(), selectors.DefaultSelector(),
                          lambda: None, recover_job=lambda *args: Outcome("failed", "no"),
                          previous=previous)


@pytest.mark.parametrize("saved", ["up", {"processname": "sleep", "restart_monotonic": 5},
                                   {"processname": "sleep", "crash_loop": True, "failed_attempts": "x"},
                                   {"processname": "sleep", "state": "down", "down_alerted": True,
                                    "failed_attempts": 10 ** 400}])
def test_a_wrong_typed_service_entry_is_not_restored_and_the_monitor_starts_afresh(paths, caplog,
                                                                                   tmp_path, saved):
    caplog.set_level(logging.WARNING)
    service = subprocess.Popen(["sleep", "300"])
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{service.pid}\n")
    monitor = monitor_with(paths, {"svc": saved}, pidfile)
    try:
        monitor.tick(time.monotonic())
        watched = monitor.watched["svc"]
        assert watched.state.value == "up" and watched.failed_attempts == 0 and not watched.crash_loop
        assert any("svc: the previous daemon's state is not usable" in r.getMessage()
                   for r in caplog.records)
    finally:
        monitor.close()
        service.kill()
        service.wait()


@pytest.mark.parametrize("damage", [deep, wrong_typed_service, fifo], ids=lambda d: d.__name__)
def test_the_daemon_starts_with_a_damaged_state_and_rebuilds_it(tmp_path, damage):
    """`vrmonitor run --foreground` with a `sleep` standing in for a service: the reference's
    crash loop was an exit at every start, which a reboot did not clear."""
    service = subprocess.Popen(["sleep", "300"])
    pidfile = tmp_path / "svc.pid"
    pidfile.write_text(f"{service.pid}\n")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc/monitor.conf").write_text(
        f"[svc]\nprocessname=sleep\nservicename=sleepsvc\npidfile={pidfile}\n")
    paths = Paths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    damage(paths.daemon_state)
    daemon = subprocess.Popen([sys.executable, "-m", "vrmonitor", "--root", str(tmp_path), "run",
                               "--foreground", "--status-every", "0.2"],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV)
    try:
        with no_hang(20, "the daemon's first status line"):
            line = daemon.stdout.readline()
        assert "services up 1/1" in line, (line, daemon.stderr.read() if daemon.poll() is not None else "")
    finally:
        daemon.send_signal(signal.SIGTERM)
        code = daemon.wait(timeout=10)
        err = daemon.stderr.read()
        service.kill()
        service.wait()
    assert code == 0, err
    assert str(paths.daemon_state) in err and "Traceback" not in err
    assert len(aside(paths.daemon_state)) == 1
    rebuilt = json.loads(paths.daemon_state.read_text())
    assert rebuilt["services"]["svc"]["state"] == "up"


# --- health-history.json ---

def history_path(paths: Paths) -> Path:
    return paths.state_dir / "health-history.json"


NOT_A_LIST = {"ok.sh": 5, "other.sh": [{"time": 1.0, "status": "pass", "duration_ms": 1.0,
                                       "message": "fine"}]}


def test_a_history_entry_that_is_not_a_list_does_not_stop_health_runs(tmp_path, caplog):
    from vrmonitor.health.run import HealthEngine

    caplog.set_level(logging.WARNING)
    with sleeping_router(tmp_path) as vm:
        paths = Paths(vm)
        (vm / "root/health_checks_data.json").write_text(json.dumps({
            "health_checks_enabled": True, "health_checks_basic_run_interval": 3,
            "health_checks_advanced_run_interval": 10, "excluded_health_checks": [],
            "health_checks_config": {}}))
        check = vm / "root/health_checks/ok.sh"
        check.write_text("#!/bin/sh\necho fine\n")
        check.chmod(0o755)
        history_path(paths).parent.mkdir(parents=True, exist_ok=True)
        history_path(paths).write_text(json.dumps(NOT_A_LIST))
        HealthEngine(paths, Settings().health, lambda start, previous: ({}, [])).run("basic")
        results = json.loads((vm / "root/basic_monitor_results.json").read_text())
        assert results["ok.sh"]["message"] == "fine"
        history = json.loads(history_path(paths).read_text())
        assert list(history) == ["ok.sh"] and history["ok.sh"][0]["status"] == "pass"
        assert len(aside(history_path(paths))) == 1
        assert '"ok.sh": 5 is not a list' in warned(caplog, history_path(paths))[0]


def test_the_prometheus_export_renders_with_a_damaged_history(paths, caplog):
    caplog.set_level(logging.WARNING)
    history_path(paths).write_text(json.dumps(NOT_A_LIST))
    published = SimpleNamespace(services={}, version=0)  # what the daemon's publisher offers
    TextfileExport(paths, published, LoopLag(), lambda: 0.0).export()
    text = paths.prometheus_file.read_text()
    assert "vrmonitor_up 1" in text and 'check="ok.sh"' not in text
    assert len(aside(history_path(paths))) == 1 and warned(caplog, history_path(paths))


def test_status_shows_a_damaged_history_as_no_results(paths):
    history_path(paths).write_text(json.dumps({"ok.sh": []}))  # never written: runs[-1] fails
    done = vrmonitor(paths, "status")
    assert done.returncode == 3, done
    assert "health checks: no results yet" in done.stdout
    assert '"ok.sh": needs at least 1 item' in done.stderr and "Traceback" not in done.stderr


# --- polls.json and the journal, through getRouterAlerts.sh ---

def get_router_alerts(paths: Paths, *args: str) -> tuple[int, str, str]:
    install(paths)
    done = subprocess.run([str(paths.under("/opt/cloud/bin/getRouterAlerts.sh")), *args],
                          capture_output=True, env={"PATH": "/usr/bin:/bin"}, timeout=30, check=False)
    return done.returncode, done.stdout.decode(), done.stderr.decode()


def three_alerts(paths: Paths) -> list[str]:
    clock = Clock("2024-05-01 10:00:00")
    writer = AlertWriter(paths, clock=clock)
    lines = []
    for text in ("one", "two", "three"):
        clock.now += 1
        lines.append(writer.write("INFO", "svc", text).line)
    return lines


def polls_wrong_type(path: Path) -> None:
    path.write_text(json.dumps({"2024-05-01 10:00:01": "1"}))


def polls_not_json(path: Path) -> None:
    path.write_bytes(b'{"2024-05-01 10:00:01": ')


@pytest.mark.parametrize("damage", [polls_wrong_type, polls_not_json, deep, fifo],
                         ids=lambda d: d.__name__)
def test_a_damaged_polls_file_is_set_aside_and_the_poll_answered_by_time(paths, damage):
    lines = three_alerts(paths)
    store = AlertStore(paths)
    damage(store.polls_file)
    assert get_router_alerts(paths, "2024-05-01", "10:00:01") == (0, answer(lines[1:]), "")
    assert len(aside(store.polls_file)) == 1
    assert str(store.polls_file) in paths.monitor_log.read_text()
    # Rebuilt: the answer is remembered, so the next poll continues by seq.
    assert json.loads(store.polls_file.read_text())["2024-05-01 10:00:03"]["seq"] == 3


GARBAGE = [b"not json at all",
           b'{"seq": true, "line": "2024-05-01 10:00:09,000 [INFO] [svc] bool seq"}',
           b'{"seq": 9007199254740993, "line": "2024-05-01 10:00:09,000 [INFO] [svc] huge seq"}',
           b'{"seq": 4, "line": "not an alert line"}',
           b'{"seq": 4, "line": "2024-05-01 10:00:09,000 [INFO] [svc] x", "name": 5}',
           b"[" * 100_000,
           b'{"seq": 4, "line": "2024-05-01 10:00:09,000 [INFO] [svc] torn']


def test_garbage_lines_in_the_journal_are_passed_over(paths):
    lines = three_alerts(paths)
    assert get_router_alerts(paths, "1970-01-01", "00:00:00") == (0, answer(lines), "")
    store = AlertStore(paths)
    with open(store.journal, "ab") as journal:
        journal.write(b"\n".join(GARBAGE) + b"\n")
    clock = Clock("2024-05-01 10:00:03")  # the same second as the answer's newest line
    alert = AlertWriter(paths, clock=clock).write("INFO", "svc", "four")
    assert alert.seq == 4  # the garbage's seqs were not taken
    assert get_router_alerts(paths, "2024-05-01", "10:00:03") == (0, answer([alert.line]), "")
    assert [record["seq"] for record in json_feed(store, after=0)] == [1, 2, 3, 4]


def test_a_fifo_or_symlink_in_place_of_the_journal_is_not_read(paths, tmp_path, caplog):
    caplog.set_level(logging.WARNING)
    lines = three_alerts(paths)
    store = AlertStore(paths)
    assert get_router_alerts(paths, "1970-01-01", "00:00:00") == (0, answer(lines), "")
    store.journal.rename(tmp_path / "journal.jsonl")
    os.mkfifo(store.journal)
    # Not blocked by the FIFO: the known answer is gone with the journal, so by time.
    assert get_router_alerts(paths, "2024-05-01", "10:00:03") == (0, "No Alerts\n", "")
    assert get_router_alerts(paths, "2024-05-01", "10:00:02") == (0, answer(lines[2:]), "")
    assert "journal.jsonl: a FIFO, not a regular file" in paths.monitor_log.read_text()
    store.journal.unlink()
    store.journal.symlink_to(tmp_path / "journal.jsonl")
    assert store.last_record() is None
    assert warned(caplog, store.journal) == [f"{store.journal}: a symbolic link, not followed; not read"]
