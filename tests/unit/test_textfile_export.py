"""The export job of the daemon's loop: when it rewrites the file, and the daemon-runs record
behind vrmonitor_daemon_unclean_restarts_total."""

import json
from types import SimpleNamespace

from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.daemon.textfile_export import TextfileExport
from vrmonitor.export.daemon_runs import DaemonRuns
from vrmonitor.export.loop_lag import LoopLag
from vrmonitor.paths import Paths


def make(tmp_path, **options):
    paths = Paths(tmp_path)
    published = SimpleNamespace(services={}, version=0)  # what the daemon's publisher offers
    clock = SimpleNamespace(now=1700000000.0)
    export = TextfileExport(paths, published, LoopLag(), lambda: 1.0, wall=lambda: clock.now, **options)
    return paths, published, clock, export


def value(paths: Paths, name: str) -> str:
    for line in paths.prometheus_file.read_text().splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return line.rsplit(" ", 1)[1]
    raise AssertionError(f"no {name} in the export")


def test_written_at_once_then_on_a_change_a_health_run_or_the_refresh(tmp_path):
    paths, published, clock, export = make(tmp_path)
    export.tick(100.0)
    assert value(paths, "vrmonitor_last_export_timestamp_seconds") == "1700000000.0"
    assert export.next_due() == 115.0

    def exported_at(now: float) -> str:
        clock.now += 1
        export.tick(now)
        return value(paths, "vrmonitor_last_export_timestamp_seconds")

    assert exported_at(101.0) == "1700000000.0"  # nothing changed
    published.version = 1
    assert exported_at(102.0) == "1700000002.0"  # the services' picture changed
    paths.results_file("basic").parent.mkdir(parents=True, exist_ok=True)
    paths.results_file("basic").write_text("{}")
    assert exported_at(103.0) == "1700000003.0"  # a health run finished
    assert exported_at(117.9) == "1700000003.0"
    assert exported_at(118.0) == "1700000005.0"  # the refresh


def test_held_alerts_and_a_failed_reload_are_exported_on_the_turn_they_change(tmp_path):
    state = SimpleNamespace(held=0, ok=True)
    paths, _, _, export = make(tmp_path, held=lambda: state.held, reload_ok=lambda: state.ok)
    export.tick(1.0)
    assert (value(paths, "vrmonitor_alerts_held"), value(paths, "vrmonitor_last_reload_success")) == ("0", "1")
    state.held, state.ok = 3, False
    export.tick(2.0)
    assert (value(paths, "vrmonitor_alerts_held"), value(paths, "vrmonitor_last_reload_success")) == ("3", "0")


def test_alerts_are_counted_by_severity_from_the_daemon_s_start(tmp_path):
    paths = Paths(tmp_path)
    writer = AlertWriter(paths)
    writer.write("ALERT", "old", "before the daemon started")
    _, _, _, export = make(tmp_path)
    for severity in ("INFO", "ALERT", "ALERT"):
        writer.write(severity, "svc", "now")
    export.export()
    text = paths.prometheus_file.read_text()
    assert 'vrmonitor_alerts_total{severity="INFO"} 1\n' in text
    assert 'vrmonitor_alerts_total{severity="ALERT"} 2\n' in text


def test_the_router_identity_comes_from_the_cmdline(tmp_path):
    paths, _, _, export = make(tmp_path)
    paths.cmdline.parent.mkdir(parents=True)
    paths.cmdline.write_text("template=domP name=r-4-VM eth0ip=10.0.0.1 type=router redundant_router=true\n")
    export.export()
    assert 'vrmonitor_router_info{router="r-4-VM",type="router",redundant="true"} 1\n' in \
        paths.prometheus_file.read_text()


def test_a_clean_stop_leaves_up_0(tmp_path):
    paths, _, _, export = make(tmp_path)
    export.tick(1.0)
    assert value(paths, "vrmonitor_up") == "1"
    export.stop()
    assert value(paths, "vrmonitor_up") == "0"


def test_a_start_after_a_daemon_that_never_stopped_cleanly_counts_one(tmp_path):
    paths = Paths(tmp_path)
    first = DaemonRuns(paths, boot="b1")
    first.started()
    first.stopped()
    second = DaemonRuns(paths, boot="b1")
    second.started()  # ... and then killed (its watchdog, kill -9): no stopped()
    assert second.unclean_restarts == 0
    third = DaemonRuns(paths, boot="b1")
    third.started()
    assert third.unclean_restarts == 1
    rebooted = DaemonRuns(paths, boot="b2")
    rebooted.started()
    assert rebooted.unclean_restarts == 0
    saved = json.loads((paths.state_dir / "daemon-runs.json").read_text())
    assert saved == {"boot": "b2", "running": True, "unclean_restarts": 0}


def test_a_damaged_daemon_runs_file_is_set_aside(tmp_path):
    paths = Paths(tmp_path)
    paths.state_dir.mkdir(parents=True)
    (paths.state_dir / "daemon-runs.json").write_text('{"boot": "b1", "running": "yes"}')
    runs = DaemonRuns(paths, boot="b1")
    runs.started()
    assert runs.unclean_restarts == 0
    assert [p.name.split(".damaged-")[0] for p in paths.state_dir.glob("*.damaged-*")] == ["daemon-runs.json"]


def test_an_alert_from_outside_the_daemon_is_exported_on_the_next_turn(tmp_path):
    paths, _, _, export = make(tmp_path)
    export.tick(1.0)
    AlertWriter(paths).write("ALERT", "operator", "raised with vrmonitor raise-alert")
    export.tick(2.0)
    assert value(paths, 'vrmonitor_alerts_total{severity="ALERT"}') == "1"
