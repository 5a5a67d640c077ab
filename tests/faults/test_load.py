"""Issue 9, item 3: 200 concurrent getRouterMonitorResults.sh and getRouterAlerts.sh calls while
health runs, service restarts and alert-log rotations happen (the load: tests/faults/router_load.py).

Every answer is parsed as the management server parses it (tests/ms_parsers.py). An alert poll
answers a run of consecutive journal entries (no torn or half line, nothing invented); a poller
that keeps its last timestamp, as the management server does, gets every alert exactly once; the
daemon is still running afterwards with its files whole. How fast the daemon stays under this
load is a benchmark (tests/bench/load.py), not an assertion here.
"""

import json
from datetime import datetime, timedelta

import pytest

from tests.faults.ms_poller import ALERTS, FIRST_POLL, ms_answer
from tests.faults.router_load import (EXPECTED, MAX_BYTES, SECTION, SERVICE_ENTRY, Churn, build,
                                      burst, call_mix, start)
from tests.ms_parsers import health_results, router_alerts
from tests.conftest import require_root
from tests.vmroot import VmRoot
from tests.waiting import wait_for

pytestmark = [pytest.mark.root, pytest.mark.faults, pytest.mark.slow]

KINDS = tuple(EXPECTED)


@pytest.fixture
def vm(tmp_path):
    require_root("the load test")
    vm = VmRoot(tmp_path, tag="load", section=SECTION)
    yield vm
    vm.cleanup()


def log_generations(vm: VmRoot) -> list:
    """The alert log's files, oldest first."""
    log = vm.root / "var/log/routerServiceMonitor.log"
    rotated = sorted(log.parent.glob(log.name + ".*"), key=lambda p: int(p.suffix[1:]), reverse=True)
    return rotated + [log]


def logged_alerts(vm: VmRoot) -> list[str]:
    """Every alert line of every generation, oldest first; each must be followed by an empty line."""
    lines = []
    for path in log_generations(vm):
        text = path.read_text()
        assert text.endswith("\n\n") and len(text.encode()) <= MAX_BYTES, f"{path}: {text[-200:]!r}"
        parts = text[:-1].split("\n")
        assert parts[1::2] == [""] * (len(parts) // 2), f"{path}: an alert not followed by an empty line"
        lines += parts[0::2]
    return lines


def last_run_end(results: dict, kind: str) -> datetime:
    return datetime.fromisoformat(results[kind]["lastRun"]["end"])


def results_files(vm: VmRoot) -> dict:
    return {kind: json.loads((vm.root / f"root/{kind}_monitor_results.json").read_text()) for kind in KINDS}


def check_alert_answer(answer, journal: list[str]) -> None:
    """Exit 0, one physical line, a run of consecutive journal lines (from the first for FIRST_POLL)."""
    done = answer.done
    assert (done.returncode, done.stderr) == (0, ""), answer
    assert done.stdout.endswith("\n") and done.stdout.count("\n") == 1, answer
    alerts, timestamp = router_alerts(ms_answer(done))
    threshold = " ".join(answer.args)
    if not alerts:
        assert threshold != FIRST_POLL and done.stdout == "No Alerts\n", answer
        return
    unknown = [line for line in alerts if line not in journal]
    assert not unknown, f"lines that are not in the journal: {unknown}"
    first = journal.index(alerts[0])
    assert alerts == journal[first:first + len(alerts)], f"not consecutive journal entries: {alerts}"
    assert timestamp == alerts[-1][:19]
    if threshold == FIRST_POLL:
        assert first == 0, "the first poll ever must answer every alert from the first"
    else:
        assert all(line[:19] >= threshold for line in alerts), (threshold, alerts)


def check_results_answer(answer, before: dict) -> None:
    """Exit 0, contract 3.6's structure, every expected check with its result; a fresh fetch
    shows runs newer than those on disk when the calls were released."""
    done = answer.done
    assert (done.returncode, done.stderr) == (0, ""), answer
    assert done.stdout.startswith("FAILING CHECKS:\n") and done.stdout.endswith("\n}\n"), answer
    failing, results = health_results(ms_answer(done))
    assert set(results) == set(KINDS), results
    for kind, expected in EXPECTED.items():
        entries = dict(results[kind])
        entries.pop("lastRun")
        service = entries.pop(SERVICE_ENTRY, None) if kind == "basic" else None
        assert {name: (e["success"], e["message"]) for name, e in entries.items()} == expected, results
        if kind == "basic":  # the service is up or, killed a moment ago, down
            assert service is not None and service["success"] in ("true", "false"), results
    # The failing list and the results are two files, read one after the other (contract 3.6,
    # as the reference did): a run may land between the two reads, so the service may be in
    # one and not in the other.
    assert sorted(set(failing) - {SERVICE_ENTRY}) == ["failing.sh"] and failing.count("failing.sh") == 1, failing
    if answer.args[:1] == ("true",):
        for kind in answer.args[1:] or KINDS:
            assert last_run_end(results, kind) > before[kind], (kind, results[kind]["lastRun"], before[kind])


def test_200_concurrent_calls_during_runs_restarts_and_rotations(vm):
    build(vm)
    live = start(vm)
    churn = Churn(vm, live).start()
    try:
        # Released once the churn is under way: alerts written, a service restart done.
        wait_for(lambda: churn.errors or (churn.kills >= 1 and len(log_generations(vm)) >= 2),
                 "a restart and a rotation before the calls", within=120, step=0.1)
        files = results_files(vm)
        before = {kind: last_run_end(files, kind) for kind in KINDS}
        rotations_before = len(log_generations(vm))
        answers = burst(vm.root, call_mix(f"{datetime.now() - timedelta(hours=1):%Y-%m-%d %H:%M:%S}"))
        rotations_during = len(log_generations(vm)) - rotations_before
    finally:
        churn.stop(kills=3, runs=3)
    while churn.poller.new_alerts():  # the management server's next polls: until nothing is new
        pass

    records = vm.alerts()
    journal = [record["line"] for record in records]
    assert [record["seq"] for record in records] == list(range(1, len(records) + 1))
    assert len(set(journal)) == len(journal), "two alerts with the same line: the checks below need them unique"
    assert churn.poller.delivered == journal, "the poller must get every alert exactly once, in order"
    assert logged_alerts(vm) == journal
    assert rotations_during >= 1, "the log must have rotated while the calls ran"
    assert len(answers) == 200
    for answer in answers:
        if answer.script == ALERTS:
            check_alert_answer(answer, journal)
        else:
            check_results_answer(answer, before)

    # The daemon is still running and its state is whole: the service up, one process of it.
    wait_for(lambda: live.running() and vm.sees_service_up(), "the service up after the load")
    assert vm.state()["pid"] == live.pid
    assert vm.marked() == [vm.service_pid()]
    for kind, results in results_files(vm).items():
        assert set(results) - {"lastRun", SERVICE_ENTRY} == set(EXPECTED[kind])
    status = live.vrmonitor("status", "--json")
    assert status.returncode == 1, status  # running, with failing.sh failing
    assert json.loads(status.stdout)
    live.stop()
