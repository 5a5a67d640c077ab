"""Logging under systemd: each line carries its syslog priority when stderr is the journal."""

import logging
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

from tests.waiting import wait_for
from vrmonitor.system.journal import JournalFormatter, stderr_is_journal

PROJECT = Path(__file__).resolve().parents[2]


def test_stderr_is_the_journal_only_when_journal_stream_names_it(tmp_path):
    with open(tmp_path / "stream", "w") as stream:
        info = os.fstat(stream.fileno())
        assert stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": f"{info.st_dev}:{info.st_ino + 1}"}, stream)
        assert not stderr_is_journal({"JOURNAL_STREAM": "garbage"}, stream)
        assert not stderr_is_journal({}, stream)


def test_every_line_gets_the_priority_of_its_level():
    formatter = JournalFormatter("%(message)s")

    def line(level, message):
        return formatter.format(logging.LogRecord("x", level, __file__, 1, message, None, None))

    assert line(logging.ERROR, "restart failed") == "<3>restart failed"
    assert line(logging.WARNING, "a\nb") == "<4>a\n<4>b"
    assert line(logging.INFO, "up") == "<6>up"
    assert line(logging.DEBUG, "x") == "<7>x"
    assert line(logging.CRITICAL, "x") == "<2>x"


def test_the_daemon_logs_with_priorities_when_its_stderr_is_the_journal(tmp_path):
    """`vrmonitor run --foreground` as systemd starts it: JOURNAL_STREAM names its stderr. A
    warning is stored as warning, an error that stops the start as err."""
    log = tmp_path / "stderr"
    root = tmp_path / "vm"
    (root / "etc/vrmonitor").mkdir(parents=True)
    (root / "etc/monitor.conf").write_text("[nameless]\nservicename=x\npidfile=/run/x.pid\n")
    env = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"}
    argv = [sys.executable, "-m", "vrmonitor", "--root", str(root), "run", "--foreground"]
    with open(log, "w") as stream:
        info = os.fstat(stream.fileno())
        env["JOURNAL_STREAM"] = f"{info.st_dev}:{info.st_ino}"
        daemon = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                  stderr=stream, env=env)
        try:
            warning = "<4>/etc/monitor.conf: [nameless].processname: missing; service skipped"
            wait_for(lambda: warning in log.read_text().splitlines(), "the warning")
            daemon.send_signal(signal.SIGTERM)
            assert daemon.wait(timeout=30) == 0
        finally:
            if daemon.poll() is None:
                daemon.kill()
                daemon.wait()
    lines = log.read_text().splitlines()
    assert lines and all(re.match(r"<[2-7]>", line) for line in lines), lines
    assert not [line for line in lines if line.startswith(("<2>", "<3>"))], lines

    (root / "etc/vrmonitor/vrmonitor.toml").write_text("[health]\ntimeout = -1\n")
    with open(log, "w") as stream:
        done = subprocess.run(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                              stderr=stream, timeout=60, env=env)
    assert done.returncode == 2  # an invalid configuration stops the start: priority err
    assert log.read_text() == (f"<3>{root}/etc/vrmonitor/vrmonitor.toml: health.timeout: -1 is "
                               "less than or equal to the minimum of 0\n")
