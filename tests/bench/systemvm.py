"""Recovery under systemd, in the router guest of tests/systemvm (issue 14): kill -9 of each
service to that service answering again, against `systemctl restart` alone to answering again.

All four are brought back by their units' Restart=, at once through the package's drop-ins
(RestartSec=0 for ssh, haproxy and apache2; Restart=on-failure with RestartSec=0 for dnsmasq,
whose Debian unit has none); vrmonitor reports and keeps the policy for a service that keeps
failing. Each timing is taken inside the guest by one small stdlib script, and both sides pay
the same overhead: it kills (os.kill, the clock starting at the signal) or asks for the restart
(`systemctl restart --no-block`: the client's start and the job's queueing are counted, and
the probe does not sit idle in a blocked client while the other side polls), waits for the
old main process to be gone (a pidfd: no polling, no question to systemd while it works),
then polls the service's own protocol every millisecond until a new main process answers.
The two sides alternate, run by run, so a drift of the guest weighs on both alike.
"""

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.report import Row
from tests.systemvm import layout

RUNS = 21

# In the guest: `python3 -c PROBE kill|restart UNIT KIND PORT` prints the seconds from the
# kill (or the restart's start) to a new main process of UNIT answering on PORT.
PROBE = r'''
import os, select, signal, socket, subprocess, sys, time
action, unit, kind, port = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
ADDRESS = "198.18.61.1"

def main_pid():
    out = subprocess.run(["systemctl", "show", unit, "--property=MainPID,ActiveState"],
                         capture_output=True, text=True).stdout
    values = dict(line.split("=", 1) for line in out.splitlines() if "=" in line)
    return int(values.get("MainPID") or 0), values.get("ActiveState")

def answers():
    try:
        if kind == "dns":
            query = b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x04test\x00\x00\x01\x00\x01"
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.settimeout(0.05)
                s.sendto(query, (ADDRESS, port))
                return s.recv(512)[:2] == b"\x12\x34"
        with socket.create_connection((ADDRESS, port), timeout=0.05) as s:
            if kind == "ssh":
                s.settimeout(0.5)
                return s.recv(64).startswith(b"SSH-")
            if kind == "http":
                s.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                s.settimeout(0.5)
                return s.recv(64).startswith(b"HTTP/")
            return True
    except OSError:
        return False

before, _ = main_pid()
while not answers():
    time.sleep(0.001)
old = os.pidfd_open(before)
started = time.monotonic()
if action == "kill":
    os.kill(before, signal.SIGKILL)  # the clock starts at the signal, not at a fork of kill(1)
else:
    subprocess.run(["systemctl", "restart", "--no-block", unit], check=True)
select.select([old], [], [])  # the old main process is gone
while True:  # systemd is asked only once the port answers: the probe stays off PID 1's back
    if answers():
        pid, state = main_pid()
        if pid not in (0, before) and state == "active":
            break
    time.sleep(0.001)
print(time.monotonic() - started)
'''

SERVICES = (("ssh", "ssh", layout.SSH_PORT), ("dnsmasq", "dns", "53"),
            ("haproxy", "tcp", str(layout.HAPROXY_PORT)), ("apache2", "http", "80"))


# systemd's default start limit is 5 starts in 10 s, and both a restart and a unit's own
# Restart= count: runs are spaced so that each measures one recovery, never the limit.
START_SPACING = 2.2


def measure(router, unit: str, kind: str, port: str) -> tuple[float, float]:
    """Medians of RUNS restarts and RUNS kills, taken in turns: (restart, kill)."""
    seconds: dict[str, list[float]] = {"restart": [], "kill": []}
    last = 0.0
    for run in range(RUNS):
        for action in (("restart", "kill") if run % 2 == 0 else ("kill", "restart")):
            wait_seen_up(router)
            time.sleep(max(0.0, last + START_SPACING - time.monotonic()))
            last = time.monotonic()
            done = router.guest.run(["python3", "-c", PROBE, action, unit, kind, port],
                                    timeout=120, check=True)
            seconds[action].append(float(done.stdout))
    print(f"{unit}: restart {sorted(seconds['restart'])}\n{unit}: kill {sorted(seconds['kill'])}",
          file=sys.stderr)  # the spread behind the medians, for whoever reads the run's log
    return statistics.median(seconds["restart"]), statistics.median(seconds["kill"])


def wait_seen_up(router) -> None:
    """Every service seen up by the daemon (a kill before that would be a crash loop to it)."""
    end = time.monotonic() + 60
    while time.monotonic() < end:
        try:
            state = json.loads(router.guest.path("/var/lib/vrmonitor/daemon.json").read_text())
            if all(s.get("state") == "up" and s.get("on_trial_monotonic") is None
                   for s in state["services"].values()):
                return
        except (FileNotFoundError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    raise RuntimeError("services not all seen up by vrmonitor within 60 s")


def run() -> list[Row]:
    with tempfile.TemporaryDirectory() as folder:
        router = layout.boot_router(layout.make_key(Path(folder)), log=lambda line: None)
        try:
            # Kills every few seconds, each a failure of its own: not a crash loop.
            router.guest.path("/etc/vrmonitor/vrmonitor.toml").write_text("[services]\nstable_after = 0\n")
            router.guest.run(["systemctl", "reload", "vrmonitor"], check=True)
            rows = []
            for unit, kind, port in SERVICES:
                restart, recovery = measure(router, unit, kind, port)
                by = ("the package's Restart=on-failure, RestartSec=0" if unit == "dnsmasq"
                      else "the unit's own Restart= with the package's RestartSec=0")
                rows.append(Row(f"systemd guest: kill -9 to answering again vs `systemctl restart {unit}` ({unit})",
                                recovery, restart, "s", "<= 1",
                                f"medians of {RUNS}, in turns; brought back by {by}; the port polled every 1 ms "
                                f"on both sides once the old main process is gone"))
            return rows
        finally:
            router.guest.teardown()
