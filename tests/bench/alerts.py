"""getRouterAlerts.sh: work proportional to the answer, and against the reference algorithm."""

import subprocess
import sys
import tempfile
import time
from datetime import datetime, timedelta
from pathlib import Path

from tests.bench.report import Row, median_wall
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths

LINE = "{stamp},{ms:03d} [ALERT] [The process haproxy recover failed ] haproxy\n\n"

# The reference getRouterAlerts.sh algorithm (contract 2.5), as the baseline: tac, then one
# `date` per line until a line is not newer than the threshold.
REFERENCE = r'''
threshold=$(date -d "$1 $2" +%s)
result=""
while read line; do
  [ -z "$line" ] && continue
  stamp=$(echo "$line" | cut -d' ' -f1,2 | cut -d, -f1)
  epoch=$(date -d "$stamp" +%s 2>/dev/null) || break
  [ "$epoch" -gt "$threshold" ] || break
  result="$line\n$result"
done < <(tac "$3")
echo $result
'''


def make_logs(root: Path, per_file: int, files: int) -> list[str]:
    """`files` generations of `per_file` bytes each; returns the stamp of every line, oldest first."""
    start = datetime(2026, 1, 1)
    log = Paths(root).alert_log
    log.parent.mkdir(parents=True, exist_ok=True)
    stamps = []
    second = 0
    for generation in range(files - 1, -1, -1):
        name = log.name if generation == 0 else f"{log.name}.{generation}"
        chunks, size = [], 0
        while size < per_file:
            stamp = (start + timedelta(seconds=second)).strftime("%Y-%m-%d %H:%M:%S")
            line = LINE.format(stamp=stamp, ms=second % 1000)
            chunks.append(line)
            size += len(line)
            stamps.append(stamp)
            second += 1
        log.with_name(name).write_text("".join(chunks))
    return stamps


def timed_poll(root: Path, stamps: list[str]) -> float:
    """Median time of getRouterAlerts.sh for the 10 newest alerts."""
    threshold = stamps[-11].split()
    script = str(Paths(root).under("/opt/cloud/bin/getRouterAlerts.sh"))
    return median_wall([script, *threshold], runs=15)


def run() -> list[Row]:
    rows = []
    with tempfile.TemporaryDirectory() as big, tempfile.TemporaryDirectory() as small:
        stamps_big = make_logs(Path(big), 10 * 1024 * 1024, 6)
        stamps_small = make_logs(Path(small), 10 * 1024, 6)
        install(Paths(Path(big)))
        install(Paths(Path(small)))
        rows.append(Row("getRouterAlerts.sh, 10 newest alerts: 60 MB of logs vs 60 KB",
                        timed_poll(Path(big), stamps_big), timed_poll(Path(small), stamps_small),
                        "s", "<= 1.5"))
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        stamps = make_logs(root, 1024 * 1024, 1)
        install(Paths(root))
        script = str(Paths(root).under("/opt/cloud/bin/getRouterAlerts.sh"))
        ours = median_wall([script, "1970-01-01", "00:00:00"], runs=5)
        started = time.perf_counter()
        subprocess.run(["bash", "-c", REFERENCE, "reference", "1970-01-01", "00:00:00",
                        str(Paths(root).alert_log)], check=True, stdout=subprocess.DEVNULL)
        reference = time.perf_counter() - started
        # Here the figure is the reference's time: the goal is how many times faster vrmonitor is.
        rows.append(Row(f"getRouterAlerts.sh on a 1 MB log ({len(stamps)} alerts): reference algorithm vs vrmonitor",
                        reference, ours, "s", ">= 50", "tac + one date per line, as contract 2.5"))
    return rows


if __name__ == "__main__":
    for row in run():
        print(row)
    sys.exit(0)
