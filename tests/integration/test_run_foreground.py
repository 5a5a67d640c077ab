"""`vrmonitor run --foreground`: the demo's status lines, sd_notify readiness, clean stop."""

import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

PROJECT = Path(__file__).resolve().parents[2]


def start_daemon(root: Path, notify_socket: str | None = None) -> subprocess.Popen:
    env = {"PATH": "/usr/bin:/bin:/usr/sbin:/sbin", "PYTHONPATH": str(PROJECT)}
    if notify_socket:
        env["NOTIFY_SOCKET"] = notify_socket
    return subprocess.Popen([sys.executable, "-m", "vrmonitor", "--root", str(root), "run",
                             "--foreground", "--status-every", "0.2"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)


def write_monitor_conf(root: Path, pidfile: Path) -> None:
    (root / "etc").mkdir(parents=True)
    (root / "etc/monitor.conf").write_text(
        f"[sleeper]\nprocessname=sleep\nservicename=sleeper\npidfile={pidfile}\n")


def read_line_matching(stream, text: str, within: float = 10.0) -> str:
    end = time.monotonic() + within
    while time.monotonic() < end:
        line = stream.readline()
        if text in line:
            return line
    raise AssertionError(f"no line with {text!r} within {within} s")


def test_status_lines_follow_the_service_and_sigterm_exits_0(tmp_path):
    service = subprocess.Popen(["sleep", "300"])
    pidfile = tmp_path / "sleeper.pid"
    pidfile.write_text(f"{service.pid}\n")
    write_monitor_conf(tmp_path, pidfile)
    daemon = start_daemon(tmp_path)
    try:
        line = read_line_matching(daemon.stdout, "services up 1/1")
        assert f"sleeper up (sleep running as PID {service.pid})" in line
        service.kill()
        service.wait()
        line = read_line_matching(daemon.stdout, "services up 0/1")
        assert "sleeper down (" in line
        # No init script named sleeper: one alert saying so, and no restart loop.
        alerts = (tmp_path / "var/log/routerServiceMonitor.log").read_text()
        assert "[INFO] [sleep] The process sleep is not running trying recover\n" in alerts
    finally:
        daemon.send_signal(signal.SIGTERM)
        assert daemon.wait(timeout=10) == 0
        assert daemon.stderr.read() == ""
        service.kill()


def test_ready_and_status_reach_the_notify_socket(tmp_path):
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    address = str(tmp_path / "notify.sock")
    listener.bind(address)
    listener.settimeout(10)
    daemon = start_daemon(tmp_path, notify_socket=address)
    try:
        first = listener.recv(4096).decode()
        assert first.splitlines() == ["READY=1", "STATUS=services up 0/0"]
    finally:
        daemon.send_signal(signal.SIGINT)
        assert daemon.wait(timeout=10) == 0
        last = listener.recv(4096).decode()
        while last != "STOPPING=1":
            last = listener.recv(4096).decode()
        listener.close()
