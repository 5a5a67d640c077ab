"""Start-up: `vrmonitor --version` against `python3 -c pass` on the same interpreter."""

import os
import subprocess
import sys
from pathlib import Path

from tests.bench.report import Row, median_wall

PROJECT = Path(__file__).resolve().parents[2]
# The same script the package installs as /usr/bin/vrmonitor, run from the source tree.
COMMAND = str(PROJECT / "bin" / "vrmonitor")

HEAVY = ("psutil", "scapy", "jsonschema", "netifaces", "daemon")


def heavy_imports(python: str) -> list[str]:
    """The heavy libraries `vrmonitor --version` imports (there should be none)."""
    done = subprocess.run([python, "-X", "importtime", COMMAND, "--version"],
                          capture_output=True, text=True, check=True, env=_env())
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in done.stderr.splitlines()}
    return sorted(names.intersection(HEAVY))


def run(python: str = sys.executable) -> list[Row]:
    figure = median_wall([python, COMMAND, "--version"], runs=50, env=_env())
    baseline = median_wall([python, "-c", "pass"], runs=50)
    heavy = heavy_imports(python)
    note = "heavy imports: " + (", ".join(heavy) if heavy else "none")
    return [Row("start-up: vrmonitor --version vs python3 -c pass", figure, baseline, "s",
                "<= 3", note)]


def _env() -> dict:
    return dict(os.environ, PYTHONPATH=str(PROJECT))
