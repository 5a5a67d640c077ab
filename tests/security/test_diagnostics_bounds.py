"""get_diagnostics_files.py within bounds (issue 15): huge and sparse files, FIFOs, symlinks out
of the root, and the collection's deadline.

A sparse file costs no disk however large its size, yet read through it is zeros that take
hours to compress and make a zip that unpacks a thousand times larger. The rule: a file's size
is taken with fstat before it is read, and only its end goes into the zip (at most
[diagnostics] item_max_bytes; a sparse file at most eight times its bytes on disk, 64 KiB at
least); the members together hold at most unpacked_max_bytes; items not reached by
collect_deadline are left out. fileinfo.txt says what was cut and why, one `Note:` line each.

Most calls run the installed entry point as the agent does (from /root, stdout and stderr
apart), since the management server takes its stdout, newlines removed, as the zip's path.
"""

import os
import re
import subprocess
import zipfile
import inspect
from pathlib import Path

import pytest

from tests.ms_parsers import Answer, diagnostics_zip
from vrmonitor.compat.install import install
from vrmonitor.config.settings import DiagnosticsSettings
from vrmonitor.diagnostics.collect import collect
from vrmonitor.paths import Paths

COLLECT = "opt/cloud/bin/get_diagnostics_files.py"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ZIP_NAME = re.compile(r"diagnostics_files_\d{8}-\d{6}(-\d+)?\.zip")
GIB = 1024 ** 3
SPARSE_SIZE = 256 * GIB  # the case: minutes to read through before the bound
NEWEST = b"2024-05-01 10:00:00 the newest line\n"
SPARSE_FLOOR = 64 * 1024


@pytest.fixture
def vm(tmp_path):
    root = tmp_path / "vm"
    for folder in ("root", "etc/vrmonitor", "var/log", "opt/cloud/bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n")
    install(Paths(root))
    return root


def settings(root: Path, text: str) -> None:
    (root / "etc/vrmonitor/vrmonitor.toml").write_text(f"[diagnostics]\n{text}")


def sparse(path: Path, size: int, tail: bytes = b"") -> int:
    """A file of `size` bytes that is a hole but for `tail` at its end; its bytes on disk."""
    with open(path, "wb") as handle:
        handle.truncate(size)
        if tail:
            handle.seek(size - len(tail))
            handle.write(tail)
    return os.stat(path).st_blocks * 512


def collected(root: Path, *items: str) -> Path:
    """Run the entry point as the agent does; stdout must be exactly the zip's path and a
    newline, stderr empty (the agent would merge it into that path)."""
    done = subprocess.run([str(root / COLLECT), *items], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=root / "root", env={"PATH": PATH},
                          timeout=900, check=False)
    assert (done.returncode, done.stderr) == (0, b""), done
    path = Path(diagnostics_zip(Answer.of(done.stdout)))
    assert done.stdout == f"{path}\n".encode()
    assert path.parent == root / "root" and ZIP_NAME.fullmatch(path.name)
    return path


def fileinfo(archive: zipfile.ZipFile) -> list[str]:
    return archive.read("fileinfo.txt").decode().splitlines()


def unpacked(archive: zipfile.ZipFile) -> int:
    return sum(info.file_size for info in archive.infolist() if info.filename != "fileinfo.txt")


# --- sparse and huge files ----------------------------------------------------------------------

def test_a_256_gib_sparse_log_gives_only_its_end(vm):
    on_disk = sparse(vm / "var/log/cloud.log", SPARSE_SIZE, NEWEST)
    kept = max(8 * on_disk, SPARSE_FLOOR)
    path = collected(vm, "/var/log/cloud.log", "/etc/hosts")
    with zipfile.ZipFile(path) as archive:
        assert archive.testzip() is None
        assert archive.namelist() == ["cloud.log", "hosts", "fileinfo.txt"]
        assert archive.read("cloud.log") == bytes(kept - len(NEWEST)) + NEWEST
        assert fileinfo(archive) == [
            "/var/log/cloud.log", "/etc/hosts",
            (f"Note: /var/log/cloud.log: only its last {kept} of {SPARSE_SIZE} bytes added: "
             f"a sparse file, {on_disk} bytes on disk")]
    assert path.stat().st_size < 64 * 1024


def test_a_sparse_file_reached_through_a_symlink_is_cut_the_same_way(vm):
    sparse(vm / "var/log/holes", SPARSE_SIZE)
    (vm / "etc/holes-link").symlink_to("/var/log/holes")  # re-rooted: <root>/var/log/holes
    path = collected(vm, "/etc/holes-link")
    with zipfile.ZipFile(path) as archive:
        assert archive.getinfo("holes-link").file_size == SPARSE_FLOOR
        assert fileinfo(archive) == [
            "/etc/holes-link",
            (f"Note: /etc/holes-link: only its last {SPARSE_FLOOR} of {SPARSE_SIZE} bytes "
             "added: a sparse file, 0 bytes on disk")]


def test_a_file_larger_than_item_max_bytes_gives_its_last_bytes(vm):
    settings(vm, "item_max_bytes = 1000\n")
    log = b"".join(b"2024-05-01 10:00:%02d line %04d\n" % (n % 60, n) for n in range(200))
    (vm / "var/log/daemon.log").write_bytes(log)
    path = collected(vm, "/var/log/daemon.log")
    with zipfile.ZipFile(path) as archive:
        assert archive.read("daemon.log") == log[-1000:]
        assert fileinfo(archive) == [
            "/var/log/daemon.log",
            (f"Note: /var/log/daemon.log: only its last 1000 of {len(log)} bytes added: "
             "[diagnostics] item_max_bytes is 1000")]


def test_many_names_of_one_sparse_file_stay_within_unpacked_max_bytes(vm):
    """Hard links defeat the check for repeated items; the total still holds."""
    settings(vm, "unpacked_max_bytes = 150000\n")
    sparse(vm / "var/log/a", GIB)
    for name in ("b", "c", "d"):
        os.link(vm / "var/log/a", vm / f"var/log/{name}")
    path = collected(vm, "/var/log/a", "/var/log/b", "/var/log/c", "/var/log/d")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["a", "b", "c", "fileinfo.txt"]
        assert unpacked(archive) == 150000
        assert archive.read("c") == bytes(150000 - 2 * SPARSE_FLOOR)
        sparse_note = (f"only its last {SPARSE_FLOOR} of {GIB} bytes added: a sparse file, "
                       "0 bytes on disk")
        assert fileinfo(archive) == [
            "/var/log/a", "/var/log/b", "/var/log/c",
            f"Note: /var/log/a: {sparse_note}",
            f"Note: /var/log/b: {sparse_note}",
            (f"Note: /var/log/c: only its last {150000 - 2 * SPARSE_FLOOR} of {GIB} bytes "
             "added: [diagnostics] unpacked_max_bytes is 150000"),
            f"Note: /var/log/d left out ({GIB} bytes): [diagnostics] unpacked_max_bytes is 150000"]


def test_a_file_of_ordinary_size_is_added_whole(vm):
    log = b"".join(b"line %06d\n" % n for n in range(100_000))  # 1.1 MB, fully on disk
    (vm / "var/log/haproxy.log").write_bytes(log)
    path = collected(vm, "/var/log/haproxy.log")
    with zipfile.ZipFile(path) as archive:
        assert archive.read("haproxy.log") == log
        assert fileinfo(archive) == ["/var/log/haproxy.log"]


# --- what is never read -------------------------------------------------------------------------

def test_fifos_and_symlinks_to_root_only_files_outside_the_root_are_not_read(vm):
    os.mkfifo(vm / "var/log/fifo")  # opening it for reading would block
    (vm / "var/log/to-fifo").symlink_to("fifo")
    (vm / "var/log/shadow").symlink_to("/etc/shadow")  # re-rooted: <root>/etc/shadow, absent
    (vm / "var/log/climb").symlink_to("../../../../../../../../../../etc/shadow")
    path = collected(vm, "/var/log/fifo", "/var/log/to-fifo", "/var/log/shadow",
                     "/var/log/climb", "/etc/hosts")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["hosts", "fileinfo.txt"]
        assert fileinfo(archive) == [
            "/var/log/fifoFile Not Found!!",
            "/var/log/to-fifoFile Not Found!!",
            "/var/log/shadowFile Not Found!!",
            "/var/log/climbFile Not Found!!",
            "/etc/hosts",
            "Note: /var/log/fifo: not a regular file (a FIFO), not added",
            "Note: /var/log/to-fifo: not a regular file (a FIFO), not added"]


# --- the deadline -------------------------------------------------------------------------------

def test_items_not_reached_by_the_collect_deadline_are_left_out(vm):
    settings(vm, "collect_deadline = 1\ncommand_timeout = 60\n")
    hang = vm / "opt/cloud/bin/hang.sh"
    hang.write_text("#!/bin/sh\necho started\nsleep 60\n")
    hang.chmod(0o755)
    sparse(vm / "var/log/cloud.log", SPARSE_SIZE)
    path = collected(vm, "[hang.sh]", "/etc/hosts", "iptables", "/var/log/cloud.log")
    with zipfile.ZipFile(path) as archive:
        assert archive.namelist() == ["hang.sh.log", "fileinfo.txt"]
        assert archive.read("hang.sh.log") == b"started\n"
        assert fileinfo(archive) == [
            "hang.sh.log",
            "Note: hang.sh.log: hang.sh was stopped at the [diagnostics] collect_deadline (1 s)",
            "Note: /etc/hosts left out: [diagnostics] collect_deadline (1 s) had passed",
            "Note: iptables left out: [diagnostics] collect_deadline (1 s) had passed",
            "Note: /var/log/cloud.log left out: [diagnostics] collect_deadline (1 s) had passed"]


def test_a_deadline_already_passed_leaves_every_item_out(vm):
    target = collect(Paths(vm), ["/etc/hosts", "ipaddr", "[nosuch]"],
                     limits=DiagnosticsSettings(collect_deadline=1e-9))
    with zipfile.ZipFile(target) as archive:
        assert archive.namelist() == ["fileinfo.txt"]
        assert fileinfo(archive) == [
            f"Note: {item} left out: [diagnostics] collect_deadline (1e-09 s) had passed"
            for item in ("/etc/hosts", "ipaddr", "[nosuch]")]


def test_collect_defaults_are_the_settings_defaults():
    """collect() without limits bounds as an absent vrmonitor.toml does: well inside the
    management server's 1800 s, and far below what a sparse file can claim."""
    defaults = inspect.signature(collect).parameters["limits"].default
    assert defaults == DiagnosticsSettings()
    assert (defaults.collect_deadline, defaults.item_max_bytes) == (300, 64 * 1024 ** 2)
