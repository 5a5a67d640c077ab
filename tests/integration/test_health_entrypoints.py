"""Health runs through the CloudStack entry points, as cron and the management server use them.

Contract 3.4, 3.6 and scenarios A7, A8, A10, A11; one run at a time whoever asks. Services in
monitor.conf are `sleep` processes this test starts, so a one-shot pass never touches the
machine's real daemons. The management server's side is tests/ms_parsers.py: its fetches run
through agent_call (stderr merged, as the KVM agent does) and are read by health_results.
"""

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from tests.ms_parsers import AGENT_ENV, Answer, agent_call, health_results
from tests.vmroot import sleeping_router
from vrmonitor.paths import Paths

PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vm(tmp_path):
    """A router-like root whose service is a `sleep` (tests/vmroot.py). These tests are about
    the runner's contract: the built-in checks are removed, they have tests of their own."""
    with sleeping_router(tmp_path) as root:
        yield root


def data(root: Path, enabled=True, basic=3, advanced=10, excluded=(), config=None) -> None:
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_basic_run_interval": basic, "health_checks_advanced_run_interval": advanced,
        "health_checks_enabled": enabled, "excluded_health_checks": list(excluded),
        "health_checks_config": config or {}}, indent=4))


def check(root: Path, name: str, body: str, mode: int = 0o755) -> Path:
    path = root / "root/health_checks" / name
    path.write_text(body)
    os.chmod(path, mode)
    return path


RESULTS = "opt/cloud/bin/getRouterMonitorResults.sh"
MONITOR = "root/monitorServices.py"


def call(root: Path, script: str, *args: str) -> subprocess.CompletedProcess:
    """The script with stdout and stderr on pipes of their own (bytes): cron's runs, and the
    cases that show stderr stays empty."""
    return subprocess.run([str(root / script.lstrip("/")), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd="/", env=AGENT_ENV, timeout=120)


def fetch(root: Path, *args: str) -> Answer:
    """getRouterMonitorResults.sh as the management server's agent runs it (stderr merged)."""
    return agent_call([str(root / RESULTS), *args], cwd="/")


def quiet_fetch(root: Path, *args: str) -> Answer:
    """getRouterMonitorResults.sh exiting 0 with nothing on stderr; its stdout, as the agent
    hands it on."""
    done = call(root, RESULTS, *args)
    assert done.returncode == 0 and done.stderr == b"", done
    return Answer.of(done.stdout, done.returncode)


def read_during_runs(root: Path, read, readers: int, runs: int) -> None:
    """`readers` threads call `read()` over and over while `runs` basic runs happen from cron."""
    stop = threading.Event()

    def keep_reading():
        while not stop.is_set():
            read()

    threads = [threading.Thread(target=keep_reading) for _ in range(readers)]
    for thread in threads:
        thread.start()
    try:
        for _ in range(runs):
            assert call(root, MONITOR, "basic").returncode == 0
    finally:
        stop.set()
        for thread in threads:
            thread.join()


def test_a7_check_script_contract_end_to_end(vm):
    data(vm, excluded=["excluded.sh"])
    check(vm, "ok.sh", "#!/bin/sh\n[ \"$1\" = basic ] && echo ok\nexit 0\n")
    check(vm, "silent.sh", "#!/bin/sh\nexit 0\n")
    check(vm, "boom.sh", "#!/bin/sh\n[ \"$1\" = basic ] && { echo boom; exit 1; }\nexit 0\n")
    check(vm, "plain.txt", "not a check\n", mode=0o644)
    check(vm, "excluded.sh", "#!/bin/sh\necho never; exit 1\n")
    failing, results = health_results(quiet_fetch(vm, "true", "basic"))
    assert failing == ["boom.sh"]
    basic = results["basic"]
    assert set(basic) == {"ssh.service", "ok.sh", "boom.sh", "lastRun"}
    assert (basic["ok.sh"]["success"], basic["ok.sh"]["message"]) == ("true", "ok")
    assert (basic["boom.sh"]["success"], basic["boom.sh"]["message"]) == ("false", "boom")
    assert basic["ssh.service"]["message"] == "service is running"
    assert results["advanced"] == {}


def test_a8_checks_disabled(vm):
    data(vm, enabled=False)
    check(vm, "ok.sh", "#!/bin/sh\necho ok\n")
    assert call(vm, MONITOR).returncode == 0
    basic = json.loads((vm / "root/basic_monitor_results.json").read_text())
    advanced = json.loads((vm / "root/advanced_monitor_results.json").read_text())
    assert set(basic) == {"ssh.service", "lastRun"}
    assert set(advanced) == {"lastRun"}


def test_a10_fetch_output_byte_for_byte(vm):
    basic = '{"cpu_usage_check.py": {"success": "false", "lastUpdate": "1714557609301", "lastRunDuration": "2105.7", "message": "CPU  Usage 99.5% has crossed threshold of 90.0%"}, "lastRun": {"start": "2024-05-01 10:00:00.122871", "end": "2024-05-01 10:00:12.913001", "duration": "12.790130138397217"}}'
    (vm / "root/basic_monitor_results.json").write_text(basic)
    (vm / "root/basic_failing_health_checks").write_text("cpu_usage_check.py")
    done = call(vm, RESULTS, "false")
    assert (done.returncode, done.stderr) == (0, b"")
    assert done.stdout == ("FAILING CHECKS:\ncpu_usage_check.py\nMONITOR RESULTS:\n{\"basic\":\n"
                           + basic + "\n,\"advanced\":\n{}\n}\n").encode()
    failing, results = health_results(Answer.of(done.stdout, done.returncode))
    assert failing == ["cpu_usage_check.py"]
    # Printed verbatim: the two spaces survive (the reference's echo $(cat) collapsed them).
    assert results["basic"]["cpu_usage_check.py"]["message"].startswith("CPU  Usage")
    assert results["advanced"] == {}


def test_a11_a_fresh_fetch_regenerates_both_files_before_printing(vm):
    data(vm)
    check(vm, "adv.sh", "#!/bin/sh\n[ \"$1\" = advanced ] && echo advanced ok\nexit 0\n")
    for kind in ("basic", "advanced"):
        (vm / f"root/{kind}_monitor_results.json").write_text('{"old": {"success": "true"}}')
    asked = time.time()
    _, results = health_results(fetch(vm, "true"))
    assert "old" not in results["basic"] and "old" not in results["advanced"]
    assert results["advanced"]["adv.sh"]["message"] == "advanced ok"
    for kind in ("basic", "advanced"):
        assert (vm / f"root/{kind}_monitor_results.json").stat().st_mtime >= asked


def test_monitor_services_refuses_an_unknown_argument(vm):
    done = call(vm, MONITOR, "advance")
    assert done.returncode == 2 and done.stdout == b""
    assert done.stderr == b"monitorServices.py: unknown argument 'advance': expected basic or advanced\n"


def test_a_cron_run_and_an_on_demand_run_at_once_are_one_run(vm, tmp_path):
    data(vm)
    runs = tmp_path / "runs"
    check(vm, "slow.sh", f"#!/bin/sh\n[ \"$1\" = basic ] || exit 0\necho run >> {runs}\nsleep 1\necho ok\n")
    cron = subprocess.Popen([str(vm / MONITOR), "basic"], env={"PATH": "/usr/bin:/bin"})
    time.sleep(0.3)  # the cron run is in flight
    answer = fetch(vm, "true", "basic")
    assert cron.wait(timeout=60) == 0
    assert runs.read_text() == "run\n"
    _, results = health_results(answer)
    assert results["basic"]["slow.sh"]["message"] == "ok"


def test_readers_never_see_a_torn_results_file(vm):
    data(vm)
    for n in range(5):
        check(vm, f"c{n}.sh", "#!/bin/sh\necho " + "x" * 2000 + "\n")
    results = vm / "root/basic_monitor_results.json"
    call(vm, MONITOR, "basic")
    bad, reads = [], [0]

    def read():
        try:
            json.loads(results.read_bytes())
            reads[0] += 1
        except ValueError as exc:
            bad.append(str(exc))

    read_during_runs(vm, read, readers=200, runs=50)
    assert bad == [] and reads[0] > 1000


def test_malformed_data_keeps_the_previous_data_and_says_so(vm):
    from vrmonitor.config.settings import Settings
    from vrmonitor.health.run import HealthEngine

    data(vm)
    check(vm, "ok.sh", "#!/bin/sh\necho ok\n")
    engine = HealthEngine(Paths(vm), Settings().health, lambda start, prev: ({}, []))
    engine.run("basic")
    (vm / "root/health_checks_data.json").write_text('{"health_checks_enabled": tru')
    outcome = engine.run("basic")
    basic = json.loads((vm / "root/basic_monitor_results.json").read_text())
    assert basic["ok.sh"]["message"] == "ok"  # the previous data is in force: checks still run
    problem = basic["health_checks_data.json"]
    assert problem["success"] == "false"
    assert problem["message"].startswith("/root/health_checks_data.json: ")
    assert problem["message"].endswith("(the previous valid data stays in force)")
    assert "health_checks_data.json" in outcome.failing


def test_a_missing_checks_folder_is_an_empty_run_with_a_clear_message(vm, capsys):
    from vrmonitor.cli import main

    data(vm)
    os.rmdir(vm / "root/health_checks")
    assert main(["--root", str(vm), "health", "run", "advanced"]) == 0
    out = capsys.readouterr().out
    assert "advanced run: 0 results, 0 failing" in out
    assert "health checks folder /root/health_checks is missing" in out
    assert set(json.loads((vm / "root/advanced_monitor_results.json").read_text())) == {"lastRun"}


def test_the_daemon_runs_on_schedule_and_cron_is_handed_over(vm, tmp_path):
    data(vm, basic=3, advanced=0)
    runs = tmp_path / "runs"
    check(vm, "count.sh", f"#!/bin/sh\n[ \"$1\" = basic ] || exit 0\necho run >> {runs}\necho ok\n")
    daemon = subprocess.Popen([sys.executable, "-m", "vrmonitor", "--root", str(vm), "run", "--foreground"],
                              env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"},
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        end = time.monotonic() + 30
        while not (vm / "root/basic_monitor_results.json").exists():
            assert time.monotonic() < end, "the daemon did not run the basic checks"
            time.sleep(0.05)
        assert call(vm, MONITOR, "basic").returncode == 0  # cron: the daemon keeps the schedule
        time.sleep(0.5)
        assert runs.read_text() == "run\n"
        assert not (vm / "root/advanced_monitor_results.json").exists()  # interval 0
    finally:
        daemon.terminate()
        assert daemon.wait(timeout=30) == 0


def test_status_shows_each_checks_recent_history(vm, capsys):
    from vrmonitor.cli import main

    data(vm)
    flag = vm / "root/flag"
    check(vm, "flappy.sh", f"#!/bin/sh\n[ \"$1\" = basic ] || exit 0\n"
                           f"if [ -e {flag} ]; then echo broken; exit 1; fi\necho fine\n")
    for _ in range(3):
        assert call(vm, MONITOR, "basic").returncode == 0
    flag.touch()
    assert call(vm, MONITOR, "basic").returncode == 0
    assert main(["--root", str(vm), "status", "--json"]) == 3  # no daemon on this root
    report = json.loads(capsys.readouterr().out)
    runs = report["checks"]["flappy.sh"]
    assert [r["status"] for r in runs] == ["pass", "pass", "pass", "fail"]
    assert runs[-1]["message"] == "broken" and all(r["duration_ms"] >= 0 for r in runs)
    assert "flappy.sh" in report["failing"]
    main(["--root", str(vm), "status"])
    text = capsys.readouterr().out
    assert "pass pass pass fail" in text and "flappy.sh: broken" in text


def test_basic_and_advanced_runs_at_once_lose_no_history(vm):
    """The two kinds run under different locks but share health-history.json."""
    import dataclasses

    from vrmonitor.config.settings import Settings
    from vrmonitor.health.run import HealthEngine

    data(vm)
    check(vm, "b.sh", "#!/bin/sh\n[ \"$1\" = basic ] && echo basic ok\nexit 0\n")
    check(vm, "a.sh", "#!/bin/sh\n[ \"$1\" = advanced ] && echo advanced ok\nexit 0\n")
    settings = dataclasses.replace(Settings().health, history=100)
    engine = HealthEngine(Paths(vm), settings, lambda start, prev: ({}, []))
    runs = 40

    def repeat(kind):
        for _ in range(runs):
            engine.run(kind)

    threads = [threading.Thread(target=repeat, args=(kind,)) for kind in ("basic", "advanced")]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    history = json.loads((vm / "var/lib/vrmonitor/health-history.json").read_text())
    assert {name: len(entries) for name, entries in history.items()} == {"b.sh": runs, "a.sh": runs}


def test_every_fetch_is_consistent_while_runs_land(vm):
    """The failing list and the results of one answer come from the same run, even when a run
    renames its files between the fetch's reads."""
    from vrmonitor.compat.monitor_results import fetch_output

    data(vm)
    flag = vm / "root/flip"
    check(vm, "flip.sh", f"#!/bin/sh\n[ \"$1\" = basic ] || exit 0\n"
                         f"if [ -e {flag} ]; then rm {flag}; echo broken; exit 1; fi\ntouch {flag}; echo fine\n")
    check(vm, "steady.sh", "#!/bin/sh\n[ \"$1\" = basic ] && { echo always broken; exit 1; }\nexit 0\n")
    call(vm, MONITOR, "basic")
    answers = []
    read_during_runs(vm, lambda: answers.append(fetch_output(Paths(vm))), readers=4, runs=40)
    seen = set()
    for answer in answers:
        failing, results = health_results(Answer.of(answer))
        named = [name for name, entry in results["basic"].items()
                 if name != "lastRun" and entry["success"] == "false"]
        assert failing == named, answer
        seen.add(tuple(failing))
    assert seen == {("steady.sh",), ("flip.sh", "steady.sh")} or seen == {("steady.sh",), ("steady.sh", "flip.sh")}


def test_a_failing_file_left_behind_by_a_dead_writer_is_taken_from_the_results(vm):
    """A writer killed between its two renames leaves results without the matching failing file:
    the answer follows the results, which are the newer of the two."""
    newer = ('{"b.sh": {"success": "false", "lastUpdate": "1", "lastRunDuration": "1.0", "message": "no"}, '
             '"a.sh": {"success": "true", "lastUpdate": "1", "lastRunDuration": "1.0", "message": "yes"}}')
    (vm / "root/basic_monitor_results.json").write_text(newer)
    (vm / "root/basic_failing_health_checks").write_text("a.sh")
    (vm / "root/advanced_monitor_results.json").write_text('{"c.sh": {"success": "true"}}')
    (vm / "root/advanced_failing_health_checks").write_text("c.sh")
    answer = quiet_fetch(vm, "false")
    assert answer.details == ("FAILING CHECKS:\nb.sh\nMONITOR RESULTS:\n{\"basic\":\n" + newer
                              + "\n,\"advanced\":\n{\"c.sh\": {\"success\": \"true\"}}\n}\n")
    failing, results = health_results(answer)
    assert failing == ["b.sh"] and set(results) == {"basic", "advanced"}
