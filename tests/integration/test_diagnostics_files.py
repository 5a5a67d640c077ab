"""getDiagnosticsData through get_diagnostics_files.py and cleanup.sh (contract 5.2, 5.3, A19, A20).

Every call runs the installed entry point on a temporary root, from its /root, as the MS's SSH
command would, through tests/ms_parsers.py's agent_call (stderr merged into the answer, as
CloudStack's KVM agent does), and the zip path is read by its diagnostics_zip. Commands run for
real (iptables-save and ip read this machine's, or a test namespace's, tables; nothing is
changed outside the namespace).
"""

import os
import re
import stat
import subprocess
import time
import zipfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.integration.netns import topology
from tests.ms_parsers import Answer, Dropped, agent_call, diagnostics_zip
from vrmonitor.compat.install import install
from vrmonitor.diagnostics.collect import collect
from vrmonitor.paths import Paths

COLLECT = "opt/cloud/bin/get_diagnostics_files.py"
CLEANUP = "opt/cloud/bin/cleanup.sh"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
ZIP_NAME = re.compile(r"diagnostics_files_\d{8}-\d{6}(-\d+)?\.zip")


@pytest.fixture
def vm(tmp_path):
    root = tmp_path / "vm"
    for folder in ("root", "etc", "var/log", "opt/cloud/bin"):
        (root / folder).mkdir(parents=True, exist_ok=True)
    (root / "etc/hosts").write_text("127.0.0.1\tlocalhost\n10.1.1.10\tvm-1\n")
    install(Paths(root))
    return root


def call(root: Path, script: str, *args: str, cwd: str | None = None,
         netns: str | None = None) -> Answer:
    """The script as the agent runs it over SSH: from /root (or `cwd`), in the network
    namespace `netns` when given, stderr merged."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return agent_call([*prefix, str(root / script), *args], cwd=cwd or root / "root",
                      env={"PATH": PATH})


def apart(root: Path, script: str, *args: str, cwd: str | None = None) -> subprocess.CompletedProcess:
    """The script as `call` runs it, but with stdout and stderr on pipes of their own (bytes):
    for the cases that show which stream a line went to."""
    return subprocess.run([str(root / script), *args], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=cwd or root / "root", env={"PATH": PATH},
                          timeout=120)


def zip_of(reply: Answer) -> Path:
    """The zip the management server goes on to copy: the answer is that one line, nothing
    else (a stray line would become part of the path)."""
    assert reply.success and reply.details.count("\n") == 1, reply
    return Path(diagnostics_zip(reply))


def collected(root: Path, *items: str) -> tuple[Path, zipfile.ZipFile]:
    """Run get_diagnostics_files.py; check the stdout contract; the zip, opened."""
    path = zip_of(call(root, COLLECT, *items))
    assert path.parent == root / "root" and ZIP_NAME.fullmatch(path.name), path
    assert path.is_file() and path.resolve() == path
    return path, zipfile.ZipFile(path)


def fileinfo(archive: zipfile.ZipFile) -> list[str]:
    return archive.read("fileinfo.txt").decode().splitlines()


def root_listing(root: Path) -> set[str]:
    return set(os.listdir(root / "root"))


def settings(root: Path, text: str) -> None:
    (root / "etc/vrmonitor").mkdir(parents=True, exist_ok=True)
    (root / "etc/vrmonitor/vrmonitor.toml").write_text(text)


def executable(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(body)
    path.chmod(0o755)
    return path


# --- A19 ----------------------------------------------------------------------------------------

def test_a19_exactly(vm):
    before = root_listing(vm)
    started = time.localtime()
    path, archive = collected(vm, "iptables", "/etc/hosts", "/does/not/exist", "[nosuch]")
    stamp = path.name[len("diagnostics_files_"):][:15]
    assert abs(time.mktime(time.strptime(stamp, "%Y%m%d-%H%M%S")) - time.mktime(started)) <= 2
    assert archive.namelist() == ["iptables.log", "hosts", "nosuch.log", "fileinfo.txt"]
    assert all(info.compress_type == zipfile.ZIP_DEFLATED for info in archive.infolist())
    assert archive.read("hosts") == (vm / "etc/hosts").read_bytes()
    assert archive.read("nosuch.log") == b"Unable to generate command for nosuch, perhaps missing file"
    assert fileinfo(archive) == ["iptables.log", "/etc/hosts", "/does/not/existFile Not Found!!",
                                 "nosuch.log"]
    # Nothing but the zip is left in /root; no .log anywhere.
    assert root_listing(vm) - before == {path.name}
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_keyword_logs_hold_the_commands_output(vm):
    _, archive = collected(vm, "ipaddr", "iprule", "[iproute]", "iproute")
    assert archive.namelist() == ["ipaddr.log", "iprule.log", "iproute.log", "fileinfo.txt"]
    for member, argv in (("ipaddr.log", ["ip", "address"]), ("iprule.log", ["ip", "rule", "list"]),
                         ("iproute.log", ["ip", "route", "show", "table", "all"])):
        expected = subprocess.run(argv, capture_output=True, check=True).stdout
        assert archive.read(member) == expected
    assert fileinfo(archive) == ["ipaddr.log", "iprule.log", "iproute.log"]


def test_iptables_log_is_iptables_save_of_the_namespace(vm):
    with topology("vrg") as topo:
        added = topo.run_in_host(["iptables", "-A", "INPUT", "-s", "198.18.1.1/32", "-p", "icmp",
                                  "-j", "ACCEPT"])
        assert added.returncode == 0, added.stderr
        path = zip_of(call(vm, COLLECT, "iptables", netns=topo.host))
    log = zipfile.ZipFile(path).read("iptables.log").decode()
    assert "-A INPUT -s 198.18.1.1/32 -p icmp -j ACCEPT" in log.splitlines()
    assert log.startswith("# Generated by iptables-save")


# --- [script] items -----------------------------------------------------------------------------

def test_script_items_run_by_argv_without_a_shell(vm, tmp_path):
    executable(vm / "opt/cloud/bin/show.sh", '#!/bin/sh\necho "args:$#:$1:$2"; pwd\n')
    executable(vm / "opt/cloud/bin/fails.sh", "#!/bin/sh\necho out; echo err >&2; exit 3\n")
    marker = tmp_path / "marker"
    _, archive = collected(vm, "[show.sh a;touch $(x) b]", "[fails.sh]", "[show.sh]")
    assert archive.read("show.sh a;touch $(x) b.log").decode() == \
        f"args:3:a;touch:$(x)\n{vm / 'root'}\n"
    assert archive.read("fails.sh.log") == b"err\n"  # stderr when the exit code is not 0
    assert archive.read("show.sh.log").decode().startswith("args:0::")
    assert fileinfo(archive) == ["show.sh a;touch $(x) b.log", "fails.sh.log", "show.sh.log"]
    assert not marker.exists()


def test_scripts_outside_opt_cloud_bin_are_not_run(vm, tmp_path):
    marker = tmp_path / "ran"
    body = f"#!/bin/sh\ntouch {marker}\n"
    executable(vm / "bin/sh", body)  # what [../../bin/sh] would name under the root
    executable(vm / "marker.sh", body)
    executable(vm / "opt/cloud/bin/inside.sh", "#!/bin/sh\necho inside\n")
    (vm / "opt/cloud/bin/abs-link").symlink_to("/bin/sh")  # re-rooted: <root>/bin/sh
    (vm / "opt/cloud/bin/rel-link").symlink_to("../../../marker.sh")
    (vm / "opt/cloud/bin/good-link").symlink_to("inside.sh")
    (vm / "opt/cloud/bin/plain.sh").write_text(body)  # not executable
    os.mkfifo(vm / "opt/cloud/bin/fifo")
    _, archive = collected(vm, "[../../bin/sh]", "[abs-link]", "[rel-link]", "[good-link]",
                           "[plain.sh]", "[fifo]", "[/bin/sh -c id]")
    assert not marker.exists()
    unable = "Unable to generate command for {}, perhaps missing file"
    assert archive.read(".._.._bin_sh.log").decode() == unable.format("../../bin/sh")
    for name in ("abs-link", "rel-link", "plain.sh", "fifo"):
        assert archive.read(f"{name}.log").decode() == unable.format(name)
    assert archive.read("_bin_sh -c id.log").decode() == unable.format("/bin/sh -c id")
    assert archive.read("good-link.log") == b"inside\n"


def test_a_command_is_stopped_at_the_command_timeout(vm):
    settings(vm, "[diagnostics]\ncommand_timeout = 1\n")
    executable(vm / "opt/cloud/bin/hang.sh", "#!/bin/sh\necho started\nsleep 60\n")
    started = time.monotonic()
    _, archive = collected(vm, "[hang.sh]", "/etc/hosts")
    assert time.monotonic() - started < 15
    assert archive.read("hang.sh.log") == b"started\n"
    assert fileinfo(archive) == ["hang.sh.log", "/etc/hosts",
                                 "Note: hang.sh.log: hang.sh did not finish within 1 s and was stopped"]


# --- file items ---------------------------------------------------------------------------------

def test_only_regular_files_are_added_and_nothing_outside_the_root_is_read(vm):
    (vm / "dev").mkdir()
    os.mknod(vm / "dev/null", stat.S_IFCHR | 0o666, os.makedev(1, 3))
    os.mkfifo(vm / "var/log/fifo")  # opening it for reading would block
    (vm / "etc/to-device").symlink_to("/dev/null")  # re-rooted to <root>/dev/null
    (vm / "etc/to-outside").symlink_to("/etc/hostname")  # <root>/etc/hostname: absent
    (vm / "etc/climb").symlink_to("../../../../../../../../etc/hostname")
    (vm / "etc/loop").symlink_to("loop")
    (vm / "run/resolvconf").mkdir(parents=True)
    (vm / "run/resolvconf/resolv.conf").write_text("nameserver 10.1.1.1\n")
    (vm / "etc/resolv.conf").symlink_to("/run/resolvconf/resolv.conf")
    _, archive = collected(vm, "/dev/null", "/var/log/fifo", "/etc/to-device", "/etc/to-outside",
                           "/etc/climb", "/etc/loop", "/etc/../../../../etc/hostname", "/etc",
                           "/etc/hosts/x", "/etc/resolv.conf")
    assert archive.namelist() == ["resolv.conf", "fileinfo.txt"]
    assert archive.read("resolv.conf") == b"nameserver 10.1.1.1\n"
    assert fileinfo(archive) == [
        "/dev/nullFile Not Found!!",
        "/var/log/fifoFile Not Found!!",
        "/etc/to-deviceFile Not Found!!",
        "/etc/to-outsideFile Not Found!!",
        "/etc/climbFile Not Found!!",
        "/etc/loopFile Not Found!!",
        "/etc/../../../../etc/hostnameFile Not Found!!",
        "/etcFile Not Found!!",
        "/etc/hosts/xFile Not Found!!",
        "/etc/resolv.conf",
        "Note: /dev/null: not a regular file (a character device), not added",
        "Note: /var/log/fifo: not a regular file (a FIFO), not added",
        "Note: /etc/to-device: not a regular file (a character device), not added",
        "Note: /etc/loop: too many levels of symbolic links",
        "Note: /etc: not a regular file (a folder), not added",
        "Note: /etc/hosts/x: /etc/hosts is not a folder",
    ]


def test_relative_paths_are_taken_from_root_and_duplicate_basenames_kept_apart(vm):
    (vm / "var/lib").mkdir(parents=True)
    (vm / "var/lib/hosts").write_text("second\n")
    (vm / "var/log/iptables.log").write_text("a file, not the command\n")
    (vm / "var/log/fileinfo.txt").write_text("a file named fileinfo.txt\n")
    (vm / "root/notes").write_text("relative\n")
    _, archive = collected(vm, "/etc/hosts", "/var/lib/hosts", "iptables", "/var/log/iptables.log",
                           "/var/log/fileinfo.txt", "notes", "/etc/hosts")
    assert archive.namelist() == ["hosts", "hosts-2", "iptables.log", "iptables-2.log",
                                  "fileinfo-2.txt", "notes", "fileinfo.txt"]
    assert archive.read("hosts-2") == b"second\n"
    assert archive.read("iptables-2.log") == b"a file, not the command\n"
    assert fileinfo(archive) == [
        "/etc/hosts", "/var/lib/hosts", "iptables.log", "/var/log/iptables.log",
        "/var/log/fileinfo.txt", "notes",
        "Note: /var/lib/hosts is stored as hosts-2 (another member is named hosts)",
        "Note: /var/log/iptables.log is stored as iptables-2.log (another member is named iptables.log)",
        "Note: /var/log/fileinfo.txt is stored as fileinfo-2.txt (another member is named fileinfo.txt)",
    ]


# --- the zip: unique names, size bound, failure ------------------------------------------------

def test_five_calls_within_one_second_make_five_zips(vm):
    with ThreadPoolExecutor(max_workers=5) as pool:
        replies = list(pool.map(lambda _: call(vm, COLLECT, "/etc/hosts"), range(5)))
    paths = {zip_of(reply) for reply in replies}
    assert len(paths) == 5 and all(zipfile.ZipFile(path).read("hosts") for path in paths)


def test_names_taken_within_one_second_get_a_suffix(vm):
    now = time.mktime((2024, 5, 1, 10, 0, 0, 0, 0, -1))
    names = [collect(Paths(vm), ["/etc/hosts"], now=now).name for _ in range(5)]
    assert names == ["diagnostics_files_20240501-100000.zip"] + [
        f"diagnostics_files_20240501-100000-{n}.zip" for n in range(1, 5)]


def test_the_zip_stays_within_zip_max_bytes(vm):
    limit = 300_000
    settings(vm, f"[diagnostics]\nzip_max_bytes = {limit}\n")
    (vm / "var/log/a.bin").write_bytes(os.urandom(200_000))
    (vm / "var/log/b.bin").write_bytes(os.urandom(200_000))  # does not fit after a.bin
    (vm / "var/log/c.log").write_text("2024-05-01 10:00:00 the same line again\n" * 150_000)
    (vm / "var/log/d.bin").write_bytes(os.urandom(60_000))  # still fits
    path, archive = collected(vm, "/var/log/a.bin", "/var/log/b.bin", "/var/log/c.log",
                              "/var/log/d.bin", "ipaddr")
    assert path.stat().st_size <= limit
    assert archive.namelist() == ["a.bin", "c.log", "d.bin", "ipaddr.log", "fileinfo.txt"]
    assert archive.testzip() is None
    assert archive.getinfo("c.log").file_size == 6_000_000
    assert fileinfo(archive) == [
        "/var/log/a.bin", "/var/log/c.log", "/var/log/d.bin", "ipaddr.log",
        f"Note: /var/log/b.bin left out (200000 bytes): it would make the zip larger than "
        f"{limit} bytes"]


def test_an_invalid_vrmonitor_toml_is_logged_and_the_defaults_apply(vm):
    """Nothing on stderr (the agent would make it part of the zip path): the file's problem
    and the decision are in <root>/var/log/monitor.log."""
    settings(vm, "[diagnostics]\nzip_max_bytes = -1\n")
    done = apart(vm, COLLECT, "/etc/hosts")
    assert (done.returncode, done.stderr) == (0, b""), done
    path = zip_of(Answer.of(done.stdout, done.returncode))
    assert ZIP_NAME.fullmatch(path.name) and zipfile.ZipFile(path).read("hosts")
    lines = (vm / "var/log/monitor.log").read_text().splitlines()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} get_diagnostics_files\.py\[\d+\]: WARNING: "
    assert len(lines) == 2, lines
    assert re.fullmatch(stamp + re.escape(f"{vm}/etc/vrmonitor/vrmonitor.toml: "
                                          "diagnostics.zip_max_bytes: ") + ".+", lines[0])
    assert re.fullmatch(stamp + "using default settings", lines[1])


def test_a_zip_that_cannot_be_written_is_an_error_on_stderr(vm):
    """One line on stderr and exit 1: the management server reports a failed collection with
    that line."""
    (vm / "root").rename(vm / "home-root")
    (vm / "root").write_text("not a folder\n")
    done = apart(vm, COLLECT, "/etc/hosts", cwd="/")
    assert (done.returncode, done.stdout) == (1, b"")
    assert done.stderr.startswith(b"get_diagnostics_files.py: cannot write the diagnostics zip: ")
    assert done.stderr.count(b"\n") == 1
    with pytest.raises(Dropped, match="Failed to generate diagnostics zip file"):
        diagnostics_zip(Answer.of(done.stderr, done.returncode))  # stdout is empty


# --- A20: cleanup.sh ----------------------------------------------------------------------------

@pytest.mark.parametrize("as_vm_path", [True, False])
def test_a20_cleanup_exactly(vm, as_vm_path):
    zip_path = vm / "root/diagnostics_files_X.zip"
    zip_path.write_bytes(b"PK\x05\x06" + bytes(18))
    given = "/root/diagnostics_files_X.zip" if as_vm_path else str(zip_path)
    assert call(vm, CLEANUP, given) == Answer(True, f"Deleting diagnostics zip file {given}\n", 0)
    assert not zip_path.exists()
    assert call(vm, CLEANUP, given) == Answer(True, f"File {given} not found in vm \n", 0)


def test_cleanup_deletes_what_the_collection_printed(vm):
    path, _ = collected(vm, "/etc/hosts")
    assert call(vm, CLEANUP, str(path)) == Answer(True, f"Deleting diagnostics zip file {path}\n", 0)
    assert not path.exists()


def test_cleanup_refuses_anything_but_a_diagnostics_zip_in_root(vm, tmp_path):
    victim = vm / "etc/passwd"
    victim.write_text("root:x:0:0\n")
    (vm / "root/diagnostics_files_dir.zip").mkdir()
    (vm / "root/diagnostics_files_dir.zip/keep").write_text("keep\n")
    (vm / "root/diagnostics_files_link.zip").symlink_to(victim)
    (vm / "root/sub").mkdir()
    (vm / "root/sub/diagnostics_files_1.zip").write_text("keep\n")
    (vm / "root/other.zip").write_text("keep\n")
    for args in (["/etc/passwd"], [str(victim)], ["/root/other.zip"], ["/root"], ["/root/"],
                 ["/root/../etc/diagnostics_files_1.zip"], ["/root/sub/diagnostics_files_1.zip"],
                 ["diagnostics_files_1.zip"], ["/root/diagnostics_files_dir.zip"],
                 ["/root/diagnostics_files_link.zip"], ["/root/diagnostics_files_1.zip;rm"],
                 [], ["/root/diagnostics_files_1.zip", "/etc/passwd"]):
        done = apart(vm, CLEANUP, *args)
        assert done.returncode == 1 and done.stdout == b"", (args, done)
        assert done.stderr.startswith(b"cleanup.sh: ") and done.stderr.count(b"\n") == 1
    assert victim.read_text() == "root:x:0:0\n"
    assert (vm / "root/diagnostics_files_dir.zip/keep").exists()
    assert (vm / "root/diagnostics_files_link.zip").is_symlink()
    assert (vm / "root/sub/diagnostics_files_1.zip").exists() and (vm / "root/other.zip").exists()
