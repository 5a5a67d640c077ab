"""The daemon as a system service: signals, reload, detaching, watchdog (issue 8)."""

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

from tests.waiting import wait_for

PROJECT = Path(__file__).resolve().parents[2]
ENV = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin:/usr/sbin:/sbin"}


def vrmonitor(root: Path, *args: str, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "vrmonitor", "--root", str(root), *args],
                            env=dict(ENV, **kwargs.pop("env", {})), stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, **kwargs)


def router_root(tmp_path: Path) -> Path:
    root = tmp_path / "vm"
    for folder in ("", "root", "root/health_checks", "etc", "etc/vrmonitor"):
        (root / folder).mkdir(exist_ok=True)
        os.chmod(root / folder, 0o755)
    return root


def test_sighup_with_a_broken_config_keeps_the_last_good_one(tmp_path):
    root = router_root(tmp_path)
    config = root / "etc/vrmonitor/vrmonitor.toml"
    config.write_text("[services]\nverify_interval = 5\n")
    daemon = vrmonitor(root, "run", "--foreground")
    try:
        wait_for(lambda: (root / "var/lib/vrmonitor/daemon.json").exists(), "daemon state")
        config.write_text("[services]\nverify_interval = -3\nbogus = 1\n")
        daemon.send_signal(signal.SIGHUP)
        time.sleep(1)
        assert daemon.poll() is None, "the daemon must keep running"
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
    err = daemon.stderr.read()
    assert "services.verify_interval: -3 is less than or equal to the minimum of 0" in err
    assert "services.bogus: unknown key" in err
    assert "is invalid; the last good configuration stays in force" in err


def test_sigterm_during_a_long_check_kills_it_and_keeps_the_files_valid(tmp_path):
    root = router_root(tmp_path)
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_basic_run_interval": 1, "health_checks_enabled": True}))
    child_pid = tmp_path / "child.pid"
    check = root / "root/health_checks/hang_check.sh"
    check.write_text(f"#!/bin/sh\nsleep 300 &\necho $! > {child_pid}\nsleep 300\n")
    check.chmod(0o755)
    previous = '{"ok.sh": {"success": "true", "lastUpdate": "1", "lastRunDuration": "1.0", "message": "ok"}}'
    (root / "root/basic_monitor_results.json").write_text(previous)
    daemon = vrmonitor(root, "run", "--foreground")
    wait_for(child_pid.exists, "the check's child running")
    child = int(wait_for(lambda: child_pid.read_text().strip(), "child pid"))
    stopped_at = time.monotonic()
    daemon.send_signal(signal.SIGTERM)
    assert daemon.wait(timeout=20) == 0
    assert time.monotonic() - stopped_at < 5  # not the check's 30 s timeout
    wait_for(lambda: _state(child) in (None, "Z"), "the check's child killed")
    assert (root / "root/basic_monitor_results.json").read_text() == previous


def test_detached_mode_writes_a_locked_pidfile_and_refuses_a_second_start(tmp_path):
    root = router_root(tmp_path)
    first = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "run"],
                           env=ENV, capture_output=True, text=True, timeout=30)
    assert (first.returncode, first.stdout, first.stderr) == (0, "", "")
    pidfile = root / "run/vrmonitor/vrmonitor.pid"
    pid = int(wait_for(lambda: pidfile.exists() and pidfile.read_text().strip(), "pidfile"))
    try:
        wait_for(lambda: _status(root) == 0, "status says running")
        second = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "run"],
                                env=ENV, capture_output=True, text=True, timeout=30)
        assert second.returncode == 1
        assert second.stderr == f"vrmonitor: already running as PID {pid} (pidfile {pidfile} is locked)\n"
    finally:
        os.kill(pid, signal.SIGTERM)
    wait_for(lambda: not pidfile.exists(), "pidfile removed")
    wait_for(lambda: _state(pid) is None, "daemon gone")
    assert _status(root) == 3


def test_watchdog_pings_reach_the_notify_socket(tmp_path):
    root = router_root(tmp_path)
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify.sock")
    listener.bind(address)
    listener.settimeout(10)
    daemon = vrmonitor(root, "run", "--foreground",
                       env={"NOTIFY_SOCKET": address, "WATCHDOG_USEC": "400000"})
    try:
        messages = []
        end = time.monotonic() + 3
        while time.monotonic() < end:
            messages.append(listener.recv(4096).decode())
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=20) == 0
        listener.close()
    assert messages[0].startswith("READY=1\nSTATUS=services up 0/0")
    pings = messages.count("WATCHDOG=1")
    assert 8 <= pings <= 20  # every 0.2 s (half of WATCHDOG_USEC) for about 3 s


def _status(root: Path) -> int:
    return subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "status"],
                          env=ENV, capture_output=True, timeout=30).returncode


def _state(pid: int) -> str | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return None
