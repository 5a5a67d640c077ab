"""The atomic-write helper: readers see the old file or the new one, never a part."""

import errno
import os
import random
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from vrmonitor.system.files import atomic_write

WRITER = """
import sys
from vrmonitor.system.files import atomic_write
target, size = sys.argv[1], int(sys.argv[2])
payloads = [b"a" * size, b"b" * size]
print("ready", flush=True)
i = 0
while True:
    atomic_write(target, payloads[i % 2])
    i += 1
"""


def test_creates_folders_and_sets_the_mode(tmp_path):
    target = tmp_path / "deep" / "er" / "file.json"
    atomic_write(target, "{}", mode=0o600)
    assert target.read_bytes() == b"{}"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600


def test_replaces_the_whole_content(tmp_path):
    target = tmp_path / "f"
    atomic_write(target, b"x" * 100000)
    atomic_write(target, b"short")
    assert target.read_bytes() == b"short"
    assert os.listdir(tmp_path) == ["f"]


def test_a_failing_write_keeps_the_old_file_and_leaves_no_temporary(tmp_path):
    target = tmp_path / "f"
    atomic_write(target, b"old")
    with pytest.raises(TypeError):
        atomic_write(target, 12345)  # not bytes: fails inside the write
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["f"]


def test_a_writer_killed_at_random_moments_never_leaves_a_partial_file(tmp_path):
    target = tmp_path / "results.json"
    size = 2_000_000
    whole = {b"a" * size, b"b" * size}
    rng = random.Random(20261120)
    project = Path(__file__).resolve().parents[2]
    killed_mid_write = 0
    for _ in range(20):
        writer = subprocess.Popen([sys.executable, "-c", WRITER, str(target), str(size)],
                                  stdout=subprocess.PIPE, cwd=project)
        assert writer.stdout.readline() == b"ready\n"
        time.sleep(rng.uniform(0.0, 0.15))
        writer.send_signal(signal.SIGKILL)
        writer.wait()
        writer.stdout.close()
        if target.exists():
            assert target.read_bytes() in whole
        killed_mid_write += any(name.startswith(".results.json.tmp-") for name in os.listdir(tmp_path))
    assert killed_mid_write > 0, "no kill landed during a write: the test proved nothing"
    # The next write removes what killed writers left behind.
    atomic_write(target, b"final")
    assert target.read_bytes() == b"final"
    assert os.listdir(tmp_path) == ["results.json"]


def test_a_temporary_of_a_live_writer_is_left_alone(tmp_path):
    target = tmp_path / "f"
    live = tmp_path / f".f.tmp-{os.getpid()}-abc"
    live.write_bytes(b"in progress")
    atomic_write(target, b"new")
    assert live.exists()


FILE_TOO_BIG = """
import resource, signal, sys
from vrmonitor.system.files import atomic_write
signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
resource.setrlimit(resource.RLIMIT_FSIZE, (10, 10))
try:
    atomic_write(sys.argv[1], b"x" * 100)
except OSError as exc:
    print(exc.errno, exc.filename)
"""


def test_a_failed_write_names_the_target_and_the_error(tmp_path):
    """A write the kernel refuses (here: over RLIMIT_FSIZE; a full disk alike) names no file
    by itself; the error raised names the target, so logs say what could not be written."""
    target = tmp_path / "results.json"
    target.write_bytes(b"old")
    child = subprocess.run([sys.executable, "-c", FILE_TOO_BIG, str(target)], capture_output=True,
                           text=True, cwd=Path(__file__).resolve().parents[2], check=True)
    assert child.stdout == f"{errno.EFBIG} {target}\n"
    assert target.read_bytes() == b"old"
    assert os.listdir(tmp_path) == ["results.json"]
