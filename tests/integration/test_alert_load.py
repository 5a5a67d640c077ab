"""The alert feed under load: many alerts across rotations, concurrent writers, a live poller."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from vrmonitor.alerts.store import AlertStore, forward_lines
from vrmonitor.cloudstack.alert_line import parse_line
from vrmonitor.paths import Paths

PROJECT = Path(__file__).resolve().parents[2]

WRITER = """
import sys
from vrmonitor.alerts.writer import AlertWriter
from vrmonitor.paths import Paths
root, tag, count, max_bytes = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
writer = AlertWriter(Paths.from_option(root), max_bytes=max_bytes, backups=5)
for i in range(count):
    writer.write("ALERT" if i % 2 else "INFO", tag, f"{tag} alert {i}  (two spaces) *")
"""


def start_writer(root: Path, tag: str, count: int, max_bytes: int) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", WRITER, str(root), tag, str(count), str(max_bytes)],
                            cwd=PROJECT, env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})


def poll_after(root: Path, seq: int) -> list[dict]:
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "alerts",
                           "--format", "json", "--after", str(seq)],
                          capture_output=True, text=True, cwd=PROJECT, check=True,
                          env={"PYTHONPATH": str(PROJECT), "PATH": "/usr/bin:/bin"})
    assert done.stderr == ""
    return [json.loads(line) for line in done.stdout.splitlines()]


@pytest.mark.slow
def test_100000_alerts_across_rotations_reach_a_live_poller_once_each(tmp_path):
    total = 100_000
    writer = start_writer(tmp_path, "load", total, max_bytes=1_000_000)
    received: list[dict] = []
    last = 0
    polls = 0
    while True:
        finished = writer.poll() is not None
        batch = poll_after(tmp_path, last)
        polls += 1
        received.extend(batch)
        if batch:
            last = batch[-1]["seq"]
        if finished and not batch:
            break
    assert writer.returncode == 0
    assert polls > 5, "the poller must have read while the writer was writing"
    assert [a["seq"] for a in received] == list(range(1, total + 1))
    assert [a["message"] for a in received] == [f"load alert {i}  (two spaces) *" for i in range(total)]
    # The log did rotate, more than once, and kept its limit.
    store = AlertStore(Paths(tmp_path))
    assert len(store.log_generations()) == 6 and len(store.journal_generations()) == 6
    assert all(p.stat().st_size <= 1_000_000 for p in store.log_generations())


@pytest.mark.slow
def test_two_writer_processes_never_interleave_or_lose_a_line(tmp_path):
    count = 10_000
    writers = [start_writer(tmp_path, tag, count, max_bytes=10 * 1024 * 1024) for tag in ("one", "two")]
    assert [w.wait(timeout=300) for w in writers] == [0, 0]
    store = AlertStore(Paths(tmp_path))
    lines = []
    for path in reversed(store.log_generations()):
        lines.extend(raw.decode() for raw in forward_lines(path))
    # Every alert is one intact line followed by one empty line.
    assert lines[1::2] == [""] * (2 * count)
    alerts = lines[0::2]
    parsed = [parse_line(line) for line in alerts]
    assert all(p is not None for p in parsed)
    for tag in ("one", "two"):
        mine = [p.message for p in parsed if p.name == tag]
        assert mine == [f"{tag} alert {i}  (two spaces) *" for i in range(count)]
    records = store.all_records()
    assert [r["seq"] for r in records] == list(range(1, 2 * count + 1))
    assert [r["line"] for r in records] == alerts
