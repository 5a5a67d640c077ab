"""`python3 -m tests.fleet [--routers 10,25,50] [--interval 5s]`: run the fleet simulation, print
its table, and replace the part between the `make fleet` markers of docs/benchmarks.md (its
"Prometheus fleet" section) with it, unless --no-write; the rest of the file stays as it is.
Needs root (init scripts in /etc/init.d) and Debian's prometheus and prometheus-node-exporter;
run it alone (the shared daemons lock)."""

import argparse
import sys

from tests.bench.report import BENCHMARKS, ReportLayoutError, check_layout, write_generated
from tests.fleet.sim import markdown, run

OWNER = "make fleet"  # its markers in docs/benchmarks.md


def main() -> int:
    parser = argparse.ArgumentParser(prog="make fleet")
    parser.add_argument("--routers", default="10,25,50", help="fleet sizes, comma-separated, growing")
    parser.add_argument("--interval", default="5s", help="Prometheus' scrape and evaluation interval")
    parser.add_argument("--idle", type=float, default=30.0, help="seconds of rest measured per stage")
    parser.add_argument("--kills", type=int, default=10, help="random service kills per stage")
    parser.add_argument("--no-write", action="store_true", help="do not write docs/benchmarks.md")
    args = parser.parse_args()
    sizes = [int(n) for n in args.routers.split(",")]
    if sizes != sorted(sizes) or sizes[0] < 1:
        parser.error("--routers: growing sizes of at least 1")
    if not args.no_write:
        try:  # before the run, which takes many minutes
            check_layout(BENCHMARKS, OWNER)
        except (ReportLayoutError, OSError) as exc:
            parser.error(f"cannot update the report: {exc}")
    section = markdown(run(sizes, args.interval, args.idle, args.kills), args.interval)
    print(section)
    if not args.no_write:
        try:
            write_generated(BENCHMARKS, OWNER, section)
        except (ReportLayoutError, OSError) as exc:
            print(f"make fleet: cannot update the report: {exc}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
