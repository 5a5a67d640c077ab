"""The health-check runner: statuses, messages, timeouts, caps, crashes, parallelism.

Real scripts in a temporary checks folder, run through the real subprocess wrapper. The folder
is made as a VM root would be (owned by root, mode 0755) and discovered with the strict trust
policy, so these tests need root (CI runs as root); without it they fail with a message.
"""

import os
import resource
import time
from pathlib import Path

import pytest

from tests.procs import our_zombie_children, wait_until_dead
from vrmonitor.health.discovery import Check, discover
from vrmonitor.health.runner import CheckResult, run_checks

CAP = 16384
MARKER = f" [output truncated at {CAP} bytes]"


@pytest.fixture
def vm_root(tmp_path) -> Path:
    """A VM root with /root/health_checks, every folder owned by root and mode 0755."""
    if os.geteuid() != 0:
        pytest.fail("the health-check runner tests need root: the strict trust policy runs "
                    "only root-owned checks (CI runs as root)")
    root = tmp_path / "vm"
    for folder in (root, root / "root", root / "root/health_checks"):
        folder.mkdir()
        os.chmod(folder, 0o755)
    return root


def script(root: Path, name: str, body: str, mode: int = 0o755, shebang: str = "#!/bin/sh\n") -> Path:
    path = root / "root/health_checks" / name
    path.write_text(shebang + body)
    os.chmod(path, mode)
    return path


def checks(root: Path, excluded=()) -> list[Check]:
    found, problem = discover(root / "root/health_checks", excluded, "strict", root)
    assert problem is None
    return found


def run_all(root: Path, kind: str = "basic", *, timeout: float = 10.0, dialect: str = "cloudstack",
            cap: int = CAP, parallel: int = 4, excluded=()) -> dict[str, CheckResult]:
    results = run_checks(checks(root, excluded), kind, cwd=root / "root",
                         timeout_for=lambda name: timeout, dialect_for=lambda name: dialect,
                         output_cap=cap, max_parallel=parallel)
    return {result.name: result for result in results}


def test_output_and_exit_status_give_the_contract_statuses(vm_root):
    script(vm_root, "ok.sh", "echo '  ok  '\n")
    script(vm_root, "quiet.sh", "exit 0\n")
    script(vm_root, "blank.sh", "echo; echo '   '\n")
    script(vm_root, "boom.sh", "echo boom; exit 1\n")
    script(vm_root, "two.sh", "echo broken; exit 2\n")
    results = run_all(vm_root)
    assert {name: (r.status, r.message, r.exit_code) for name, r in results.items()} == {
        "blank.sh": ("skip", "", 0),
        "boom.sh": ("fail", "boom", 1),
        "ok.sh": ("pass", "ok", 0),
        "quiet.sh": ("skip", "", 0),
        "two.sh": ("fail", "broken", 2),
    }


def test_failure_without_output_says_the_exit_status(vm_root):
    script(vm_root, "x.sh", "exit 3\n")
    assert run_all(vm_root)["x.sh"].message == "exited with status 3"


def test_multi_line_output_is_kept_inside_stripped(vm_root):
    script(vm_root, "x.sh", "printf '\\nUnreachable gateways found-\\n[\\04710.1.1.1\\047]\\n\\n'; exit 1\n")
    assert run_all(vm_root)["x.sh"].message == "Unreachable gateways found-\n['10.1.1.1']"


def test_argument_is_the_kind_cwd_is_root_and_there_is_no_shell(vm_root):
    script(vm_root, "x.sh", 'echo "$# [$1] $(pwd)"\n')
    assert run_all(vm_root, "advanced")["x.sh"].message == f"1 [advanced] {vm_root / 'root'}"


def test_stderr_is_not_part_of_the_message(vm_root, caplog):
    script(vm_root, "x.sh", "echo secret-diagnostics >&2; echo fine\n")
    caplog.set_level("DEBUG", logger="vrmonitor.health.runner")
    assert run_all(vm_root)["x.sh"].message == "fine"
    assert "secret-diagnostics" in caplog.text


def test_invalid_utf8_is_replaced(vm_root):
    script(vm_root, "x.sh", "printf 'caf\\303\\251 \\377!'\n")
    assert run_all(vm_root)["x.sh"].message == "café \ufffd!"


def test_results_keep_the_order_of_the_checks(vm_root):
    script(vm_root, "a.sh", "sleep 0.4; echo a\n")
    script(vm_root, "b.sh", "echo b\n")
    script(vm_root, "c.sh", "sleep 0.2; echo c\n")
    results = run_checks(checks(vm_root), "basic", cwd=vm_root / "root", timeout_for=lambda n: 10,
                         dialect_for=lambda n: "cloudstack", output_cap=CAP, max_parallel=3)
    assert [r.name for r in results] == ["a.sh", "b.sh", "c.sh"]
    assert [r.message for r in results] == ["a", "b", "c"]


def test_started_is_wall_time_and_duration_is_measured(vm_root):
    script(vm_root, "x.sh", "sleep 0.2; echo ok\n")
    before = time.time()
    result = run_all(vm_root)["x.sh"]
    assert before <= result.started <= time.time()
    assert 150 <= result.duration_ms < 5000


# timeouts, crashes, start failures, refusals

def test_timeout_kills_the_check_and_its_child_and_leaves_no_zombie(vm_root):
    script(vm_root, "hang.sh", "sleep 300 &\necho child $!\nsleep 300\n")
    script(vm_root, "ok.sh", "echo ok\n")
    script(vm_root, "boom.sh", "echo boom; exit 1\n")
    started = time.monotonic()
    results = run_all(vm_root, timeout=1)
    assert time.monotonic() - started < 10
    hang = results["hang.sh"]
    child = int(hang.message.split()[1])
    assert hang.status == "fail"
    assert hang.message == f"child {child} timed out after 1 s and was killed"
    assert hang.exit_code == -9
    assert 900 <= hang.duration_ms < 5000
    assert wait_until_dead(child) in (None, "Z")
    assert our_zombie_children() == []
    assert (results["ok.sh"].status, results["ok.sh"].message) == ("pass", "ok")
    assert (results["boom.sh"].status, results["boom.sh"].message) == ("fail", "boom")


def test_timeout_without_output_and_per_check_timeouts(vm_root):
    script(vm_root, "slow.sh", "sleep 300\n")
    script(vm_root, "patient.sh", "sleep 0.5; echo done\n")
    results = run_checks(checks(vm_root), "basic", cwd=vm_root / "root",
                         timeout_for={"slow.sh": 0.5, "patient.sh": 5.0}.get,
                         dialect_for=lambda n: "cloudstack", output_cap=CAP, max_parallel=2)
    assert [(r.status, r.message) for r in results] == [
        ("pass", "done"), ("fail", "timed out after 0.5 s and was killed")]


def test_crash_by_signal(vm_root):
    script(vm_root, "x.sh", "kill -SEGV $$\n")
    result = run_all(vm_root)["x.sh"]
    assert (result.status, result.message, result.exit_code) == ("fail", "killed by signal 11 (SIGSEGV)", -11)


def test_crash_after_output_keeps_the_output(vm_root):
    script(vm_root, "x.sh", "echo checking; kill -KILL $$\n")
    assert run_all(vm_root)["x.sh"].message == "checking killed by signal 9 (SIGKILL)"


def test_missing_interpreter_cannot_be_started(vm_root):
    script(vm_root, "x.py", "print('ok')\n", shebang="#!/nonexistent/python\n")
    result = run_all(vm_root)["x.py"]
    assert result.status == "fail" and result.exit_code is None
    assert result.message == ("could not be started: No such file or directory "
                              "(the interpreter on its #! line?)")


def test_no_shebang_cannot_be_started(vm_root):
    script(vm_root, "x.sh", "echo ok\n", shebang="")
    result = run_all(vm_root)["x.sh"]
    assert (result.status, result.message) == ("fail", "could not be started: Exec format error (no #! line?)")


def test_check_removed_after_discovery(vm_root):
    path = script(vm_root, "x.sh", "echo ok\n")
    found = checks(vm_root)
    path.unlink()
    (result,) = run_checks(found, "basic", cwd=vm_root / "root", timeout_for=lambda n: 5,
                           dialect_for=lambda n: "cloudstack", output_cap=CAP, max_parallel=1)
    assert (result.status, result.message) == ("fail", "could not be started: No such file or directory")


def test_missing_working_folder(vm_root):
    script(vm_root, "x.sh", "echo ok\n")
    (result,) = run_checks(checks(vm_root), "basic", cwd=vm_root / "nowhere", timeout_for=lambda n: 5,
                           dialect_for=lambda n: "cloudstack", output_cap=CAP, max_parallel=1)
    assert (result.status, result.message) == (
        "fail", "could not be started: cannot enter its working folder: No such file or directory")


def test_refused_check_is_failed_and_not_run(vm_root):
    witness = vm_root / "root/ran"
    script(vm_root, "x.sh", f"touch {witness}; echo ok\n", mode=0o777)
    script(vm_root, "y.sh", "echo ok\n")
    results = run_all(vm_root)
    assert results["x.sh"].status == "fail"
    assert results["x.sh"].message == "not run: /root/health_checks/x.sh is writable by group or others (mode 0777)"
    assert results["x.sh"].exit_code is None
    assert results["y.sh"].status == "pass"
    assert not witness.exists()


def test_only_refused_checks(vm_root):
    script(vm_root, "x.sh", "echo ok\n", mode=0o757)
    (result,) = run_all(vm_root).values()
    assert (result.status, result.duration_ms, result.exit_code) == ("fail", 0.0, None)
    assert result.message.startswith("not run: /root/health_checks/x.sh is writable")


def test_a_bad_setting_lookup_is_contained_in_that_check(vm_root):
    script(vm_root, "a.sh", "echo a\n")
    script(vm_root, "b.sh", "echo b\n")

    def timeout_for(name):
        if name == "a.sh":
            raise KeyError(name)
        return 5.0

    results = run_checks(checks(vm_root), "basic", cwd=vm_root / "root", timeout_for=timeout_for,
                         dialect_for=lambda n: "cloudstack", output_cap=CAP, max_parallel=2)
    assert [(r.status, r.message) for r in results] == [
        ("fail", "internal error running the check: 'a.sh'"), ("pass", "b")]


def test_no_checks(vm_root):
    assert run_checks([], "basic", cwd=vm_root, timeout_for=lambda n: 1, dialect_for=lambda n: "",
                      output_cap=CAP, max_parallel=4) == []


# output cap

def test_huge_output_is_capped_without_deadlock_or_memory_growth(vm_root):
    script(vm_root, "flood.sh", "yes | head -c 100000000\n")
    script(vm_root, "ok.sh", "echo ok\n")
    peak_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB
    results = run_all(vm_root, timeout=60)
    peak_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    flood = results["flood.sh"]
    assert (flood.status, flood.exit_code) == ("pass", 0)
    assert flood.message.endswith(MARKER)
    assert len(flood.message.encode()) <= CAP + len(MARKER)
    assert flood.message.startswith("y\ny\n")
    # ru_maxrss is a high-water mark: this shows the run did not raise our peak by 50 MB or
    # more (100 MB were written); it cannot see use below an earlier, higher peak.
    assert peak_after - peak_before < 50 * 1024
    assert results["ok.sh"].message == "ok"


def test_cap_never_splits_a_character(vm_root):
    # 5 ASCII bytes then two-byte characters: a cap of 8 cuts the second "é" in two.
    script(vm_root, "x.sh", "printf 'abcd éééé'\n")
    assert run_all(vm_root, cap=8)["x.sh"].message == "abcd é [output truncated at 8 bytes]"


def test_timeout_after_truncated_output(vm_root):
    script(vm_root, "x.sh", "printf 'aaaaaaaaaaaa'; sleep 300\n")
    assert run_all(vm_root, cap=4, timeout=0.5)["x.sh"].message == (
        "aaaa [output truncated at 4 bytes] timed out after 0.5 s and was killed")


# dialects

@pytest.mark.parametrize("code, status", [(0, "pass"), (1, "warning"), (2, "fail"), (3, "unknown"),
                                          (4, "unknown"), (127, "unknown")])
def test_nagios_dialect(vm_root, code, status):
    script(vm_root, "x.sh", f"echo said; exit {code}\n")
    result = run_all(vm_root, dialect="nagios")["x.sh"]
    assert (result.status, result.message, result.exit_code) == (status, "said", code)


def test_nagios_without_output(vm_root):
    script(vm_root, "quiet.sh", "exit 0\n")
    script(vm_root, "warn.sh", "exit 1\n")
    results = run_all(vm_root, dialect="nagios")
    assert (results["quiet.sh"].status, results["warn.sh"].status) == ("skip", "warning")
    assert results["warn.sh"].message == "exited with status 1"


def test_cloudstack_dialect_has_no_warning(vm_root):
    script(vm_root, "x.sh", "echo said; exit 1\n")
    assert run_all(vm_root, dialect="cloudstack")["x.sh"].status == "fail"


def test_dialect_is_per_check(vm_root):
    script(vm_root, "a.sh", "echo a; exit 1\n")
    script(vm_root, "b.sh", "echo b; exit 1\n")
    results = run_checks(checks(vm_root), "basic", cwd=vm_root / "root", timeout_for=lambda n: 5,
                         dialect_for={"a.sh": "nagios"}.get, output_cap=CAP, max_parallel=2)
    assert [r.status for r in results] == ["warning", "fail"]


# parallelism

def overlap(results: list[CheckResult]) -> int:
    """The largest number of results whose [start, start + duration] intervals overlap."""
    edges = []
    for r in results:
        edges.append((r.started, 1))
        edges.append((r.started + r.duration_ms / 1000.0, -1))
    running = peak = 0
    for _, step in sorted(edges):  # an end sorts before a start at the same instant
        running += step
        peak = max(peak, running)
    return peak


def test_checks_run_in_parallel(vm_root):
    for i in range(10):
        script(vm_root, f"c{i}.sh", "sleep 0.3; echo ok\n")
    results = list(run_all(vm_root, parallel=10).values())
    assert all(r.status == "pass" for r in results)
    # Every check started before any had finished: all ten ran at once.
    assert max(r.started for r in results) < min(r.started + r.duration_ms / 1000 for r in results)
    assert overlap(results) == 10


def test_parallelism_is_bounded(vm_root):
    for i in range(6):
        script(vm_root, f"c{i}.sh", "sleep 0.2; echo ok\n")
    results = list(run_all(vm_root, parallel=2).values())
    assert all(r.status == "pass" for r in results)
    assert overlap(results) == 2


def test_one_at_a_time(vm_root):
    for i in range(3):
        script(vm_root, f"c{i}.sh", "sleep 0.1; echo ok\n")
    results = list(run_all(vm_root, parallel=1).values())
    assert overlap(results) == 1


def test_timeout_of_one_check_does_not_delay_the_others(vm_root):
    script(vm_root, "a_hang.sh", "sleep 300\n")
    for i in range(3):
        script(vm_root, f"b{i}.sh", "echo ok\n")
    results = run_all(vm_root, timeout=2, parallel=2)
    hang_end = results["a_hang.sh"].started + results["a_hang.sh"].duration_ms / 1000
    for i in range(3):
        quick = results[f"b{i}.sh"]
        assert quick.status == "pass"
        assert quick.started + quick.duration_ms / 1000 < hang_end
