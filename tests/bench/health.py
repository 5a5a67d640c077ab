"""The health-check runner: parallel runs, and what the runner costs per check.

Checks are shell scripts in a temporary checks folder, discovered with the trust policy off (so
the figures do not depend on who runs the benchmark) and run through run_checks.
"""

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from tests.bench.report import Row
from vrmonitor.health.discovery import Check, discover
from vrmonitor.health.runner import run_checks

ALLOWANCE = 0.010  # seconds of runner overhead allowed per check


def make_checks(folder: Path, count: int, body: str) -> list[Check]:
    folder.mkdir(parents=True)
    for i in range(count):
        path = folder / f"check_{i:02d}.sh"
        path.write_text(f"#!/bin/sh\n{body}\n")
        os.chmod(path, 0o755)
    checks, problem = discover(folder, (), "off", folder.parent)
    assert problem is None and len(checks) == count, problem
    return checks


def timed_run(checks: list[Check], cwd: Path, parallel: int) -> tuple[float, list]:
    """Wall time in seconds of run_checks over `checks`, and its results."""
    started = time.perf_counter()
    results = run_checks(checks, "basic", cwd=cwd, timeout_for=lambda name: 30.0,
                         dialect_for=lambda name: "cloudstack", output_cap=16384, max_parallel=parallel)
    elapsed = time.perf_counter() - started
    assert all(r.status == "pass" for r in results), [r for r in results if r.status != "pass"]
    return elapsed, results


def run() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as temp:
        root = Path(temp)
        sleepers = make_checks(root / "sleepers", 10, "sleep 1\necho ok")
        wall, results = timed_run(sleepers, root, parallel=10)
        longest = max(r.duration_ms for r in results) / 1000.0
        rows.append(Row("health run, 10 checks of 1 s, max_parallel 10: wall time vs the longest check",
                        wall, longest, "s", "<= 1.3",
                        "the reference runs them one after another: 10 s"))

        trivial = make_checks(root / "trivial", 50, "echo ok")
        timed_run(trivial, root, parallel=4)  # warm-up
        wall, _ = timed_run(trivial, root, parallel=4)
        started = time.perf_counter()
        for check in trivial:
            subprocess.run([str(check.path), "basic"], cwd=root, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, check=True)
        direct = time.perf_counter() - started
        rows.append(Row("health run, 50 trivial checks, max_parallel 4: time per check",
                        wall / 50, direct / 50 + ALLOWANCE, "s", "<= 1",
                        "figure = run_checks wall time / 50; baseline = a sequential loop of "
                        "subprocess.run over the same scripts / 50 + 10 ms allowance"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
    sys.exit(0)
