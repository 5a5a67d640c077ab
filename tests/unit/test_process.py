"""The subprocess wrapper: argv only, capped concurrent drain, whole-group kill, no zombies."""

import os
import sys
import time

import pytest

from vrmonitor.errors import CommandError
from tests.procs import our_zombie_children, process_state, wait_until_dead
from vrmonitor.system.process import run

SH = "/bin/sh"


def test_exit_code_and_both_streams():
    done = run([SH, "-c", "echo out; echo err >&2; exit 3"], timeout=5)
    assert (done.returncode, done.stdout, done.stderr) == (3, b"out\n", b"err\n")
    assert not done.timed_out and not done.ok


def test_arguments_reach_the_program_verbatim_without_a_shell():
    hostile = "$(touch /tmp/vrmonitor-should-not-exist); `id` | & ; *"
    done = run([sys.executable, "-c", "import sys; sys.stdout.write(sys.argv[1])", hostile],
               timeout=5)
    assert done.stdout == hostile.encode()
    assert not os.path.exists("/tmp/vrmonitor-should-not-exist")


def test_stdin_is_closed():
    done = run(["cat"], timeout=5)
    assert done.ok and done.stdout == b""


def test_timeout_kills_the_whole_group_and_leaves_no_zombie():
    # The child forks a grandchild, reports its PID, and both sleep far past the timeout.
    started = time.monotonic()
    done = run([SH, "-c", "sleep 300 & echo $!; sleep 300"], timeout=1)
    assert time.monotonic() - started < 3
    assert done.timed_out
    assert done.returncode == -9
    grandchild = int(done.stdout)
    assert wait_until_dead(grandchild) in (None, "Z")
    assert our_zombie_children() == []


def test_leftover_children_are_killed_when_the_leader_exits():
    done = run([SH, "-c", "sleep 300 & echo $!"], timeout=5)
    assert done.ok and not done.timed_out
    assert wait_until_dead(int(done.stdout)) in (None, "Z")


def test_a_child_that_left_the_session_is_reported_and_left_running(tmp_path):
    # A check that daemonises something (or restarts a service through its init script): setsid
    # takes it out of the process group; the run's environment marker still finds it.
    pid_file = tmp_path / "escaped.pid"
    script = f"setsid -f {SH} -c 'echo $$ > {pid_file}; exec sleep 300'; while [ ! -s {pid_file} ]; do sleep 0.01; done"
    done = run([SH, "-c", script], timeout=10)
    escaped = int(pid_file.read_text())
    try:
        assert done.ok
        assert done.escaped == (f"{escaped} (sleep)",)
        assert process_state(escaped) not in (None, "Z")
    finally:
        os.kill(escaped, 9)


def test_one_run_does_not_report_another_runs_children(tmp_path):
    import threading

    pid_file = tmp_path / "slow.pid"
    outcome = {}
    slow = threading.Thread(target=lambda: outcome.update(slow=run(
        [SH, "-c", f"setsid -f {SH} -c 'echo $$ > {pid_file}; exec sleep 300'; sleep 1; echo done"], timeout=10)))
    slow.start()
    try:
        time.sleep(0.3)
        assert [run(["true"], timeout=5).escaped for _ in range(5)] == [()] * 5
        slow.join()
        assert outcome["slow"].stdout == b"done\n" and len(outcome["slow"].escaped) == 1
    finally:
        slow.join()
        os.kill(int(pid_file.read_text()), 9)


def test_a_run_that_keeps_its_children_reports_none():
    done = run(["setsid", "-f", SH, "-c", "echo $$; exec sleep 300"], timeout=10, kill_leftovers=False)
    try:
        assert done.escaped == ()
    finally:
        os.kill(int(done.stdout), 9)


def test_a_daemonised_child_survives_when_asked_and_does_not_block_the_caller():
    # What an init script does: the service leaves the group with setsid and keeps our pipe.
    started = time.monotonic()
    done = run(["setsid", "-f", SH, "-c", "echo $$; exec sleep 300"], timeout=10,
               kill_leftovers=False)
    assert time.monotonic() - started < 3
    survivor = int(done.stdout)
    try:
        assert process_state(survivor) not in (None, "Z")
    finally:
        os.kill(survivor, 9)


def test_output_is_capped_without_deadlock_and_memory_stays_bounded():
    # 100 MB on stdout and 100 MB on stderr at once: read concurrently, 1 KiB kept of each.
    script = ("head -c 100000000 /dev/zero & head -c 100000000 /dev/zero >&2; wait")
    done = run([SH, "-c", script], timeout=60, cap=1024)
    assert done.ok
    assert (len(done.stdout), len(done.stderr)) == (1024, 1024)
    assert done.stdout_truncated and done.stderr_truncated


def test_output_exactly_at_the_cap_is_not_truncated():
    done = run([SH, "-c", "printf 1234567890"], timeout=5, cap=10)
    assert done.stdout == b"1234567890" and not done.stdout_truncated


def test_a_missing_program_is_a_clear_error():
    with pytest.raises(CommandError, match="cannot run /nonexistent/tool: No such file"):
        run(["/nonexistent/tool"], timeout=5)


def test_an_empty_command_is_refused():
    with pytest.raises(CommandError, match="empty command"):
        run([], timeout=5)


def test_working_folder_and_environment(tmp_path):
    done = run([SH, "-c", "pwd; echo $ONLY"], timeout=5, cwd=tmp_path, env={"ONLY": "this"})
    assert done.stdout == f"{tmp_path}\nthis\n".encode()


def test_a_quick_exit_is_never_mistaken_for_a_leftover():
    # Regression: the pipes reach EOF a moment before the leader's exit is visible; killing
    # "leftovers" then killed the leader itself (returncode -9) about one run in three.
    results = {run(["true"], timeout=5).returncode for _ in range(200)}
    assert results == {0}


def test_a_command_that_closes_its_output_and_keeps_running_times_out():
    done = run([SH, "-c", "exec >&- 2>&-; sleep 300"], timeout=1)
    assert done.timed_out and done.returncode == -9


def test_a_cancelled_run_kills_the_group_and_says_so():
    import threading

    cancel = threading.Event()
    threading.Timer(0.3, cancel.set).start()
    done = run([SH, "-c", "sleep 300 & echo $!; sleep 300"], timeout=60, cancel=cancel)
    assert done.cancelled and not done.timed_out and done.returncode == -9
    assert wait_until_dead(int(done.stdout)) in (None, "Z")
