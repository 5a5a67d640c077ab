"""`python3 -m tests.fleet [--routers 10,25,50] [--interval 5s]`: run the fleet simulation, print
its table, and replace the "Prometheus fleet" section of docs/benchmarks.md with it (unless
--no-write). Needs root (init scripts in /etc/init.d) and Debian's prometheus and
prometheus-node-exporter; run it alone (the shared daemons lock)."""

import argparse
import re
import sys
from pathlib import Path

from tests.fleet.sim import markdown, run

BENCHMARKS = Path(__file__).resolve().parents[2] / "docs/benchmarks.md"


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
    section = markdown(run(sizes, args.interval, args.idle, args.kills), args.interval)
    print(section)
    if not args.no_write:
        text = BENCHMARKS.read_text()
        pattern = re.compile(r"^## Prometheus fleet\n.*?(?=^## |\Z)", re.MULTILINE | re.DOTALL)
        text = pattern.sub(lambda _: section + "\n", text) if pattern.search(text) else text.rstrip("\n") + "\n\n" + section
        BENCHMARKS.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
