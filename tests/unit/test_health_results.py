"""The result files of a health run (contract 3.4, 3.9, A7, A9): entries, vocabulary, writing.

The A7 tests run real scripts in a VM root made as on a real VM (owned by root, mode 0755) with
the strict trust policy, so they need root (CI runs as root); without it they fail with a message.
"""

import json
import os
import re
import subprocess
from datetime import datetime
from pathlib import Path

import pytest

from tests.ms_parsers import Answer, agent_call, health_results
from vrmonitor.cloudstack.health_results import (check_entries, check_entry, failing_names,
                                                 last_run, render, write_results)
from vrmonitor.compat.install import install
from vrmonitor.compat.monitor_results import fetch_output
from vrmonitor.health.discovery import discover
from vrmonitor.health.runner import CheckResult, run_checks
from vrmonitor.paths import Paths

START = 1714557600.123456


def result(status: str, name: str = "x.sh", message: str = "msg", started: float = START,
           duration_ms: float = 2105.7) -> CheckResult:
    return CheckResult(name, status, message, started, duration_ms, 0)


# entries and vocabulary

def test_legacy_entry():
    assert check_entry(result("pass"), "legacy") == {
        "success": "true", "lastUpdate": "1714557600123", "lastRunDuration": "2105.7", "message": "msg"}


@pytest.mark.parametrize("status, legacy, enum", [("pass", "true", "SUCCESS"), ("fail", "false", "FAILED"),
                                                  ("warning", "false", "WARNING"),
                                                  ("unknown", "false", "UNKNOWN")])
def test_vocabulary(status, legacy, enum):
    assert check_entry(result(status), "legacy")["success"] == legacy
    assert check_entry(result(status), "enum")["success"] == enum


def test_skip_has_no_entry():
    with pytest.raises(ValueError):
        check_entry(result("skip"), "legacy")
    assert check_entries([result("pass", "a"), result("skip", "b"), result("fail", "c")], "legacy").keys() == {"a", "c"}


def test_entries_keep_order():
    names = ["z.sh", "a.sh", "m.sh"]
    assert list(check_entries([result("pass", n) for n in names], "enum")) == names


def test_duration_is_a_float_string_even_when_whole():
    assert check_entry(result("fail", duration_ms=0), "legacy")["lastRunDuration"] == "0.0"
    assert check_entry(result("fail", duration_ms=12), "legacy")["lastRunDuration"] == "12.0"


def test_failing_names_exclude_pass_and_skip():
    results = [result("pass", "p"), result("skip", "s"), result("fail", "f"), result("warning", "w"),
               result("unknown", "u")]
    assert failing_names(results) == ["f", "w", "u"]


# lastRun and the document (A9)

LAST_RUN_TIME = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(\.\d{6})?$")


def test_last_run():
    entry = last_run(START, START + 12.5)
    assert entry == {"start": str(datetime.fromtimestamp(START)),
                     "end": str(datetime.fromtimestamp(START + 12.5)), "duration": "12.5"}
    assert all(LAST_RUN_TIME.match(entry[key]) for key in ("start", "end"))
    assert entry["start"].endswith(".123456")


def test_last_run_omits_zero_microseconds():
    entry = last_run(1714557600.0, 1714557601.0)
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", entry["start"])
    assert entry["duration"] == "1.0"


def test_render_is_one_line_without_trailing_newline_and_keeps_non_ascii():
    document = render({"x.sh": check_entry(result("fail", message="Café\nline two\ttab\x1b"), "legacy"),
                       "lastRun": last_run(START, START + 1)})
    assert "\n" not in document and "\x1b" not in document
    assert "Café" in document and "\\n" in document
    assert document.startswith('{"x.sh": {"success": "false", ')
    assert json.loads(document)["x.sh"]["message"] == "Café\nline two\ttab\x1b"


def assert_a9(document: str):
    """A9: every leaf a string; lastUpdate 13 digits; lastRunDuration a float; lastRun times."""
    parsed = json.loads(document)
    for name, entry in parsed.items():
        assert isinstance(entry, dict), name
        assert all(isinstance(value, str) for value in entry.values()), name
        if name == "lastRun":
            assert LAST_RUN_TIME.match(entry["start"]) and LAST_RUN_TIME.match(entry["end"])
            float(entry["duration"])
        else:
            assert re.fullmatch(r"\d{13}", entry["lastUpdate"]), entry
            float(entry["lastRunDuration"])
    return parsed


# writing

def test_write_results_atomically_and_failing_file(tmp_path):
    results_file, failing_file = tmp_path / "basic_monitor_results.json", tmp_path / "basic_failing_health_checks"
    write_results(results_file, failing_file, '{"a": 1}', ["a.sh", "b.sh"])
    assert results_file.read_bytes() == b'{"a": 1}'
    assert failing_file.read_bytes() == b"a.sh,b.sh"
    assert oct(os.stat(results_file).st_mode & 0o777) == "0o644"
    assert sorted(p.name for p in tmp_path.iterdir()) == [failing_file.name, results_file.name]


def test_failing_file_removed_when_nothing_fails(tmp_path):
    results_file, failing_file = tmp_path / "r.json", tmp_path / "failing"
    failing_file.write_text("old.sh")
    write_results(results_file, failing_file, "{}", [])
    assert not failing_file.exists()
    write_results(results_file, failing_file, "{}", [])  # absent already: fine
    assert not failing_file.exists() and results_file.read_text() == "{}"


def test_write_results_replaces_and_leaves_no_temporaries(tmp_path):
    results_file, failing_file = tmp_path / "r.json", tmp_path / "failing"
    results_file.write_text("old results that are longer than the new ones")
    write_results(results_file, failing_file, "{}", ["x"])
    write_results(results_file, failing_file, "{}", ["y"])
    assert results_file.read_text() == "{}" and failing_file.read_text() == "y"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["failing", "r.json"]


# A7 end to end: discover, run, entries, files

@pytest.fixture
def vm_root(tmp_path) -> Path:
    """A VM root with /root/health_checks, every folder owned by root and mode 0755."""
    if os.geteuid() != 0:
        pytest.fail("the A7 tests need root: the strict trust policy runs only root-owned "
                    "checks (CI runs as root)")
    root = tmp_path / "vm"
    for folder in (root, root / "root", root / "root/health_checks"):
        folder.mkdir()
        os.chmod(folder, 0o755)
    return root


def health_run(root: Path, kind: str = "basic", excluded=(), status_format: str = "legacy") -> dict:
    """One run as the orchestration does it; returns the parsed results file."""
    paths = Paths(root)
    start = datetime.now().timestamp()
    checks, problem = discover(paths.health_checks_dir, excluded, "strict", root)
    assert problem is None
    results = run_checks(checks, kind, cwd=paths.vm_home, timeout_for=lambda n: 10,
                         dialect_for=lambda n: "cloudstack", output_cap=16384, max_parallel=4)
    entries = check_entries(results, status_format)
    entries["lastRun"] = last_run(start, datetime.now().timestamp())
    write_results(paths.results_file(kind), paths.failing_file(kind), render(entries),
                  failing_names(results))
    return assert_a9(paths.results_file(kind).read_text())


def x_sh(root: Path, body: str, mode: int = 0o755) -> None:
    path = root / "root/health_checks/x.sh"
    path.write_text("#!/bin/sh\n" + body)
    os.chmod(path, mode)


def test_a7_output_and_exit_0_is_a_success_entry(vm_root):
    x_sh(vm_root, "echo ok\n")
    parsed = health_run(vm_root)
    assert parsed["x.sh"]["success"] == "true" and parsed["x.sh"]["message"] == "ok"
    assert not Paths(vm_root).failing_file("basic").exists()


def test_a7_no_output_exit_0_is_no_entry(vm_root):
    x_sh(vm_root, "exit 0\n")
    assert list(health_run(vm_root)) == ["lastRun"]


def test_a7_boom_exit_1_fails_and_is_listed(vm_root):
    x_sh(vm_root, "echo boom; exit 1\n")
    parsed = health_run(vm_root)
    assert (parsed["x.sh"]["success"], parsed["x.sh"]["message"]) == ("false", "boom")
    assert Paths(vm_root).failing_file("basic").read_bytes() == b"x.sh"


def test_a7_boom_with_enum_vocabulary(vm_root):
    x_sh(vm_root, "echo boom; exit 1\n")
    assert health_run(vm_root, status_format="enum")["x.sh"]["success"] == "FAILED"


def test_a7_non_executable_is_ignored(vm_root):
    x_sh(vm_root, "echo boom; exit 1\n", mode=0o644)
    assert list(health_run(vm_root)) == ["lastRun"]
    assert not Paths(vm_root).failing_file("basic").exists()


def test_a7_excluded_is_not_run(vm_root):
    witness = vm_root / "root/x-ran"
    x_sh(vm_root, f"touch {witness}; echo boom; exit 1\n")
    assert list(health_run(vm_root, excluded=["x.sh"])) == ["lastRun"]
    assert not witness.exists()


def test_the_management_server_parses_what_a_run_wrote(vm_root):
    x_sh(vm_root, "printf 'Unreachable  gateways found-\\n[\\04710.1.1.1\\047]\\n'; exit 1\n")
    (vm_root / "root/health_checks/y.sh").write_text("#!/bin/sh\necho 'CPU Usage within limits with current at 1.7%'\n")
    os.chmod(vm_root / "root/health_checks/y.sh", 0o755)
    health_run(vm_root)
    paths = Paths(vm_root)
    # What getRouterMonitorResults.sh prints (contract 3.6), the files verbatim.
    printed = fetch_output(paths)
    assert printed == (f"FAILING CHECKS:\nx.sh\n"
                       f"MONITOR RESULTS:\n{{\"basic\":\n{paths.results_file('basic').read_text()}\n"
                       f",\"advanced\":\n{{}}\n}}\n")
    failing, parsed = health_results(Answer.of(printed))
    assert failing == ["x.sh"]
    assert parsed["basic"]["x.sh"]["message"] == "Unreachable  gateways found-\n['10.1.1.1']"
    assert parsed["basic"]["y.sh"]["success"] == "true"
    assert parsed["advanced"] == {}


def test_a7_failing_file_goes_away_when_the_check_recovers(vm_root):
    x_sh(vm_root, "echo boom; exit 1\n")
    health_run(vm_root, "advanced")
    assert Paths(vm_root).failing_file("advanced").exists()
    x_sh(vm_root, "echo ok\n")
    assert health_run(vm_root, "advanced")["x.sh"]["success"] == "true"
    assert not Paths(vm_root).failing_file("advanced").exists()


# The MS's two mode phrases inside a message (contract 3.6)

PHRASES_MESSAGE = ('FAILING CHECKS: a.sh, b.sh\nMONITOR RESULTS:\n{"basic": {}} and '
                   '\\MONITOR RESULTS \\\\FAILING CHECKS \\u004dONITOR RESULTS')


def test_a_message_with_the_mode_phrases_renders_without_them_and_reads_back():
    """A line containing either phrase switches the MS's parser: every result would be lost."""
    document = render({"x.sh": check_entry(result("fail", message=PHRASES_MESSAGE), "legacy"),
                       "FAILING CHECKS.sh": check_entry(result("pass", message="MONITOR RESULTS"),
                                                        "legacy"),
                       "lastRun": last_run(START, START + 1)})
    assert "FAILING CHECKS" not in document and "MONITOR RESULTS" not in document
    assert '\\u0046AILING CHECKS' in document and '\\u004dONITOR RESULTS' in document
    parsed = json.loads(document)
    assert parsed["x.sh"]["message"] == PHRASES_MESSAGE
    assert parsed["FAILING CHECKS.sh"]["message"] == "MONITOR RESULTS"


def test_the_ms_keeps_every_result_and_the_failing_list_when_messages_hold_the_phrases(tmp_path):
    paths = Paths(tmp_path)
    paths.vm_home.mkdir()
    basic = [result("fail", "x.sh", PHRASES_MESSAGE), result("pass", "y.sh", "FAILING CHECKS:"),
             result("warning", "z.sh", "MONITOR RESULTS:\n{}")]
    advanced = [result("fail", "a.sh", "see MONITOR RESULTS"), result("pass", "b.sh", "ok")]
    for kind, results in (("basic", basic), ("advanced", advanced)):
        entries = check_entries(results, "legacy")
        entries["lastRun"] = last_run(START, START + 1)
        write_results(paths.results_file(kind), paths.failing_file(kind), render(entries),
                      failing_names(results))
    printed = fetch_output(paths)
    assert [line for line in printed.split("\n")
            if "FAILING CHECKS" in line or "MONITOR RESULTS" in line] == [
        "FAILING CHECKS:", "MONITOR RESULTS:"]
    failing, parsed = health_results(Answer.of(printed))
    assert failing == ["x.sh", "z.sh", "a.sh"]
    assert {kind: {name: entry["message"] for name, entry in checks.items() if name != "lastRun"}
            for kind, checks in parsed.items()} == {
        "basic": {"x.sh": PHRASES_MESSAGE, "y.sh": "FAILING CHECKS:", "z.sh": "MONITOR RESULTS:\n{}"},
        "advanced": {"a.sh": "see MONITOR RESULTS", "b.sh": "ok"}}
    assert parsed == {kind: json.loads(paths.results_file(kind).read_text())
                      for kind in ("basic", "advanced")}


def test_the_installed_entry_point_prints_them_and_warns_only_in_the_log(tmp_path):
    """getRouterMonitorResults.sh run as the agent runs it: stderr is part of the answer."""
    paths = Paths(tmp_path)
    install(paths)
    paths.monitor_log.parent.mkdir(parents=True)
    results = [result("fail", "x.sh", PHRASES_MESSAGE)]
    write_results(paths.results_file("basic"), paths.failing_file("basic"),
                  render(check_entries(results, "legacy")), failing_names(results))
    script = str(paths.under("/opt/cloud/bin/getRouterMonitorResults.sh"))
    for args in (["false"], ["false", "sideways"]):
        done = subprocess.run([script, *args], capture_output=True, text=True, timeout=60,
                              cwd=paths.vm_home, env={"PATH": "/usr/bin:/bin"})
        assert (done.returncode, done.stdout, done.stderr) == (0, fetch_output(paths), "")
        failing, parsed = health_results(Answer.of(done.stdout, done.returncode))
        assert failing == ["x.sh"] and parsed["basic"]["x.sh"]["message"] == PHRASES_MESSAGE
    logged = paths.monitor_log.read_text().splitlines()
    assert len(logged) == 1 and re.fullmatch(
        r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} getRouterMonitorResults\.sh\[\d+\]: WARNING: "
        r"unknown kind 'sideways' \(expected basic or advanced\); using both", logged[0]), logged
    assert health_results(agent_call([script, "false", "sideways"], cwd=paths.vm_home))[0] == ["x.sh"]
