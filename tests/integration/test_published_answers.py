"""The answers getRouterMonitorResults.sh and getRouterAlerts.sh serve in sh (issue 19).

A health run (here cron's monitorServices.py, run on the root since no daemon runs) publishes
the results answer; a poll of getRouterAlerts.sh that finds nothing new publishes that. The
installed sh serves them only while the files they were made of are unchanged: whatever
changes a file (a new run, an edit in place of the same size, a removal, a failing file left
by a dead writer) gets the Python entry point's answer, byte for byte what composing gives.
Which programs a call started is read from strace's execve lines.
"""

import subprocess
import time
from pathlib import Path

import pytest

from tests.ms_parsers import AGENT_ENV, Answer, health_results
from tests.vmroot import sleeping_router
from vrmonitor.health.answer import IDENTITY_FORMAT, MAGIC, compose, identity, sources
from vrmonitor.paths import Paths

RESULTS = "opt/cloud/bin/getRouterMonitorResults.sh"
ALERTS = "opt/cloud/bin/getRouterAlerts.sh"
MONITOR = "root/monitorServices.py"
PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture
def vm(tmp_path):
    with sleeping_router(tmp_path, extra_folders=("var", "var/log")) as root:
        (root / "root/health_checks_data.json").write_text(
            '{"health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10, '
            '"health_checks_enabled": true}')
        for name, status in (("a.sh", 0), ("b.sh", 1)):
            check = root / "root/health_checks" / name
            check.write_text(f"#!/bin/sh\necho '{name} says  two  spaces'\nexit {status}\n")
            check.chmod(0o755)
        yield root


def traced(root: Path, script: str, *args: str, tmp: Path) -> tuple[bytes, list[str]]:
    """stdout of the installed script, run as the agent runs it (stderr must stay empty), and
    the programs it executed."""
    trace = tmp / "trace"
    done = subprocess.run(["strace", "-f", "-qq", "-e", "trace=execve", "-e", "signal=none",
                           "-o", str(trace), str(root / script), *args],
                          capture_output=True, env=AGENT_ENV, cwd="/", timeout=60)
    assert (done.returncode, done.stderr) == (0, b""), done
    programs = [line.split('execve("', 1)[1].split('"', 1)[0]
                for line in trace.read_text().splitlines() if "execve(" in line and "= 0" in line]
    return done.stdout, programs


def run_cron(root: Path, kind: str) -> None:
    done = subprocess.run([str(root / MONITOR), kind], capture_output=True, env=AGENT_ENV, cwd="/",
                          timeout=60)
    assert (done.returncode, done.stderr) == (0, b""), done


def served_by_sh(programs: list[str]) -> bool:
    return programs[1:] == ["/usr/bin/stat", "/bin/cat"] or programs[1:] == ["/usr/bin/stat"]


def test_the_identity_line_is_what_gnu_stat_prints(vm):
    run_cron(vm, "basic")
    paths = Paths(vm)
    printed = subprocess.run(["stat", "-L", "--printf", IDENTITY_FORMAT, "--", *sources(paths)],
                             capture_output=True, text=True, env={"LC_ALL": "C", **AGENT_ENV})
    assert printed.returncode == 1  # the advanced files do not exist yet: nothing printed for them
    assert identity(paths) == printed.stdout
    assert printed.stdout.count(";") == 2


def test_a_run_publishes_and_sh_serves_the_answer_byte_for_byte(vm, tmp_path):
    run_cron(vm, "basic")
    run_cron(vm, "advanced")
    out, programs = traced(vm, RESULTS, "false", "basic", tmp=tmp_path)
    assert served_by_sh(programs), programs
    assert out == compose(Paths(vm)).encode()
    failing, results = health_results(Answer.of(out))
    assert failing == ["b.sh", "b.sh"]
    assert results["basic"]["a.sh"]["message"] == "a.sh says  two  spaces"
    for args in (("false",), (), ("false", "advanced")):
        assert traced(vm, RESULTS, *args, tmp=tmp_path) == (out, programs)


@pytest.mark.parametrize("change", ["new run", "edited in place", "failing file removed",
                                    "failing file of a dead writer", "results removed"])
def test_changed_files_get_python_s_answer_then_sh_serves_it(vm, tmp_path, change):
    run_cron(vm, "basic")
    run_cron(vm, "advanced")
    paths = Paths(vm)
    results, failing = paths.results_file("basic"), paths.failing_file("basic")
    if change == "new run":
        run_cron(vm, "advanced")  # publishes anew: sh serves it at once
    elif change == "edited in place":
        with open(results, "r+b") as handle:  # same inode, same size
            text = handle.read()
            handle.seek(0)
            handle.write(text.replace(b"two  spaces", b"two  SPACES"))
    elif change == "failing file removed":
        failing.unlink()
    elif change == "failing file of a dead writer":
        failing.write_text("a.sh")
    else:
        results.unlink()
    expected = compose(paths).encode()
    out, programs = traced(vm, RESULTS, "false", tmp=tmp_path)
    assert out == expected
    if change == "new run":
        assert served_by_sh(programs), programs
    else:
        assert programs[-1] != "/bin/cat" and len(programs) == 3, programs  # sh, stat, python
    out, programs = traced(vm, RESULTS, "false", tmp=tmp_path)
    assert (out, served_by_sh(programs)) == (expected, True)


def test_the_fresh_run_and_other_arguments_are_python_s(vm, tmp_path):
    run_cron(vm, "basic")
    before = (vm / "root/basic_monitor_results.json").stat().st_mtime_ns
    out, programs = traced(vm, RESULTS, "true", "basic", tmp=tmp_path)
    assert "/usr/bin/stat" not in programs and len(programs) >= 2
    assert (vm / "root/basic_monitor_results.json").stat().st_mtime_ns > before
    assert out == compose(Paths(vm)).encode()
    for args in (("false", "bogus"), ("false", "basic", "extra")):
        out, programs = traced(vm, RESULTS, *args, tmp=tmp_path)
        assert "/usr/bin/stat" not in programs and out == compose(Paths(vm)).encode()


def test_no_published_answer_or_a_damaged_one_is_python_s(vm, tmp_path):
    run_cron(vm, "basic")
    paths = Paths(vm)
    expected = compose(paths).encode()
    header_alone = f"{MAGIC} {identity(paths)}".encode()  # the right line, cut short
    other_version = f"vrmonitor-answer-0.0.0 {identity(paths)}\nOLD FORMAT\n".encode()
    for damage in (b"", f"{MAGIC} \nFAKE\n".encode(), b"garbage", header_alone, other_version):
        paths.results_answer.write_bytes(damage)
        out, programs = traced(vm, RESULTS, "false", tmp=tmp_path)
        assert out == expected and not served_by_sh(programs)
    paths.results_answer.unlink()
    out, programs = traced(vm, RESULTS, "false", tmp=tmp_path)
    assert out == expected and not served_by_sh(programs)
    assert paths.results_answer.stat().st_mode & 0o777 == 0o600


def raise_alert(root: Path, text: str) -> None:
    subprocess.run(["/usr/bin/python3", "-m", "vrmonitor", "--root", str(root), "raise-alert",
                    "haproxy", text], check=True, cwd=PROJECT, env={**AGENT_ENV, "PYTHONPATH": str(PROJECT)})


def test_alerts_no_news_is_served_by_sh_until_an_alert_is_written(vm, tmp_path):
    for number in range(3):
        raise_alert(vm, f"recover failed {number}")
    out, programs = traced(vm, ALERTS, "1970-01-01", "00:00:00", tmp=tmp_path)
    lines = out.decode().rstrip("\n").split("\\n")[:-1]
    assert len(lines) == 3 and not served_by_sh(programs)
    newest = lines[-1].split(",")[0].split()
    # The server's next poll, published by the answer before it: sh, stat, and nothing else.
    out, programs = traced(vm, ALERTS, *newest, tmp=tmp_path)
    assert (out, programs[1:]) == (b"No Alerts\n", ["/usr/bin/stat"])
    # Another timestamp: Python's answer (and the No Alerts it finds is published in its turn).
    later = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(time.time() + 5)).split()
    out, programs = traced(vm, ALERTS, *later, tmp=tmp_path)
    assert (out, len(programs)) == (b"No Alerts\n", 3)
    assert traced(vm, ALERTS, *later, tmp=tmp_path) == (b"No Alerts\n", [programs[0], "/usr/bin/stat"])
    # A new alert in the same second as the newest: the server's poll gets it, from Python.
    raise_alert(vm, "recover failed again")
    out, programs = traced(vm, ALERTS, *newest, tmp=tmp_path)
    assert out.decode().endswith("recover failed again\\n\n") and len(programs) == 3


def test_alerts_a_timestamp_that_is_none_is_python_s_and_logged(vm, tmp_path):
    raise_alert(vm, "recover failed")
    traced(vm, ALERTS, "1970-01-01", "00:00:00", tmp=tmp_path)
    for _ in range(2):
        out, programs = traced(vm, ALERTS, "not", "atime", tmp=tmp_path)
        assert out.decode().endswith("recover failed\\n\n") and len(programs) == 3
    assert "'not' 'atime' is not a 'YYYY-MM-DD HH:MM:SS' time" in (vm / "var/log/monitor.log").read_text()


def test_an_answer_that_cannot_be_published_is_still_given(vm, tmp_path):
    run_cron(vm, "basic")
    paths = Paths(vm)
    paths.results_answer.unlink()
    paths.results_answer.mkdir()  # a folder in its place: sh cannot read it, nor Python replace it
    for _ in range(2):
        out, programs = traced(vm, RESULTS, "false", tmp=tmp_path)
        assert out == compose(paths).encode() and not served_by_sh(programs)
    assert "monitor-results.answer not published" in (vm / "var/log/monitor.log").read_text()
