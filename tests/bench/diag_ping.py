"""`vrmonitor diag ping` against Debian's iputils ping, on a namespace topology (needs root).

1. `vrmonitor diag ping -c 4 <far>` vs `ping -c 4 <far>` in the host namespace: the wall time
   of the whole run (start-up included). Both send four probes one second apart and stop at
   the fourth reply, so the ratio is about vrmonitor's start-up over three seconds.
2. Start-up: `vrmonitor diag ping -c 1 <far>`, total wall time, against 0.5 s.

vrmonitor runs as `python -m vrmonitor diag ping ...` under this interpreter with the project
on PYTHONPATH; if the diag command cannot run ping, the module is called through `python -c`
instead and the note says so.
"""

import os
import subprocess
import sys
from pathlib import Path

from tests.bench.report import Row, median_wall
from tests.integration.netns import FAR, topology

PROJECT = Path(__file__).resolve().parents[2]
RUNNER = ("import sys\n"
          "from vrmonitor.diagnostics.ping import main\n"
          "sys.exit(main(sys.argv[1:]))\n")


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(PROJECT))


def _vrmonitor_ping() -> tuple[list[str], str]:
    """How to run vrmonitor's ping, and a note: the diag command when it works, else the module."""
    command = [sys.executable, "-m", "vrmonitor", "diag", "ping"]
    probe = subprocess.run([*command, "-c", "1", "127.0.0.1"], capture_output=True, text=True,
                           env=_env(), cwd=PROJECT, timeout=30, check=False)
    if probe.returncode == 0 and probe.stdout.startswith("PING 127.0.0.1 (127.0.0.1)"):
        return command, "python -m vrmonitor diag ping"
    return [sys.executable, "-c", RUNNER], "diag command unavailable: main() through python -c"


def run() -> list[Row]:
    if os.geteuid() != 0:
        raise SystemExit("tests.bench.diag_ping needs root (network namespaces, raw sockets)")
    command, how = _vrmonitor_ping()
    rows = []
    with topology("vrp") as topo:
        inside = ["ip", "netns", "exec", topo.host]
        ours = median_wall([*inside, *command, "-c", "4", FAR], runs=3, env=_env(), cwd=PROJECT)
        real = median_wall([*inside, "ping", "-c", "4", FAR], runs=3)
        rows.append(Row("diag ping -c 4 (far host): vrmonitor vs iputils ping, wall time",
                        ours, real, "s", "<= 1.15", how))
        start = median_wall([*inside, *command, "-c", "1", FAR], runs=5, env=_env(), cwd=PROJECT)
        rows.append(Row("diag ping -c 1 (far host): total wall time vs 0.5 s", start, 0.5, "s",
                        "<= 1", f"{how}; Python, vrmonitor and scapy start-up included"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
    sys.exit(0)
