"""`python3 -m tests.bench [NAME...]`: run the benchmarks, print the table, and with every suite
run, replace the table (the part between the `make bench` markers) in docs/benchmarks.md; the
sections around it (hand-written, `make fleet`'s) stay as they are.

Exit status 1 when a goal is not met, so a regression is visible.
"""

import argparse
import importlib
import sys

from tests.bench.report import BENCHMARKS, ReportLayoutError, check_layout, markdown, write_generated

OWNER = "make bench"  # its markers in docs/benchmarks.md
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
    writing = not args.no_write and set(args.suites or SUITES) == set(SUITES)
    if writing:
        try:  # before the runs, which take many minutes
            check_layout(BENCHMARKS, OWNER)
        except (ReportLayoutError, OSError) as exc:
            parser.error(f"cannot update the report: {exc}")
    rows = []
    for name in args.suites or SUITES:
        rows.extend(importlib.import_module(f"tests.bench.{name}").run())
    table = markdown(rows)
    print(table)
    if writing:
        try:
            write_generated(BENCHMARKS, OWNER, table)
        except (ReportLayoutError, OSError) as exc:
            print(f"make bench: cannot update the report: {exc}", file=sys.stderr)
            return 2
    return 0 if all(row.met for row in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
