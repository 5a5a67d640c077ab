"""`vrmonitor diag arping -c 3` against Debian's `arping -c 3`, on the same link.

Both run in the host namespace of the test topology (tests/integration/netns.py, prefix
"vra") and ask the router three times. arping's run time is mostly its own schedule (a probe
a second, the end at the third tick: 3 s), so the ratio shows what vrmonitor adds on top:
the interpreter, the CLI, scapy's import and the socket set-up. Needs root (namespaces).
"""

import os
import sys
from pathlib import Path

from tests.bench.report import Row, median_wall
from tests.integration.netns import ROUTER, topology

PROJECT = Path(__file__).resolve().parents[2]
RUNS = 5
ARGS = ["-c", "3", "-I", "h0", ROUTER]


def run() -> list[Row]:
    if os.geteuid() != 0:
        raise SystemExit("the diag_arping benchmark needs root (network namespaces)")
    env = dict(os.environ, PYTHONPATH=str(PROJECT))
    with topology("vra") as topo:
        host = ["ip", "netns", "exec", topo.host]
        ours = median_wall([*host, sys.executable, "-m", "vrmonitor", "diag", "arping", *ARGS],
                           runs=RUNS, env=env)
        theirs = median_wall([*host, "arping", *ARGS], runs=RUNS)
    return [Row("diag arping -c 3 (router answers) vs Debian arping -c 3", ours, theirs, "s",
                "<= 1.15", f"median of {RUNS}; `python -m vrmonitor diag arping`, "
                f"{Path(sys.executable).name}")]


if __name__ == "__main__":
    for row in run():
        print(f"{row.name}: {row.figure:.3f} s vs {row.baseline:.3f} s, ratio {row.ratio:.3f} "
              f"(goal {row.goal}: {'met' if row.met else 'NOT met'})")
