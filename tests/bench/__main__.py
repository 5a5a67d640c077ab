"""`python3 -m tests.bench [NAME...]`: run the benchmarks, print the table, write docs/benchmarks.md.

Exit status 1 when a goal is not met, so a regression is visible.
"""

import argparse
import importlib
import sys
from pathlib import Path

from tests.bench.report import markdown

# Module names under tests/bench, each with run() -> list[Row]. Later issues add theirs.
SUITES = ["startup", "alerts", "services", "health", "diag_ping", "diag_arping", "diag_files", "daemon", "load",
          "systemvm", "entry_points"]


def main() -> int:
    parser = argparse.ArgumentParser(prog="make bench")
    parser.add_argument("suites", nargs="*", metavar="SUITE", help=f"one of {', '.join(SUITES)}")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    unknown = set(args.suites) - set(SUITES)
    if unknown:
        parser.error(f"unknown suite {', '.join(sorted(unknown))}; choose from {', '.join(SUITES)}")
    rows = []
    for name in args.suites or SUITES:
        rows.extend(importlib.import_module(f"tests.bench.{name}").run())
    table = markdown(rows)
    print(table)
    if not args.no_write and set(args.suites or SUITES) == set(SUITES):
        Path(__file__).resolve().parents[2].joinpath("docs", "benchmarks.md").write_text(table)
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
