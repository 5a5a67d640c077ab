"""Issue 15, class 1: files and folders that another user controls are read and written by root
as untrusted: no open() that blocks, no symlink followed, no root-only byte copied out.

The folders are made as the real ones are: owned by `nobody`, as /run/dnsmasq is dnsmasq's and
/var/lib/prometheus is prometheus's, with the hostile entries owned by `nobody` too."""

import os
import pwd
import queue
import signal
import subprocess
import threading

import pytest

from tests.integration.test_run_foreground import start_daemon, write_monitor_conf
from vrmonitor.export import prometheus
from vrmonitor.paths import Paths
from vrmonitor.services.detect import ServiceState, observe
from vrmonitor.system.files import atomic_write
from vrmonitor.system.safepath import UnsafePath, read_regular

pytestmark = pytest.mark.root
NOBODY = pwd.getpwnam("nobody")
SECRET = b"4242 root-only secret\n"


def owned_by_nobody(path):
    os.lchown(path, NOBODY.pw_uid, NOBODY.pw_gid)
    return path


@pytest.fixture
def service_folder(tmp_path):
    """/run/<service> as the service's user owns it."""
    tmp_path.chmod(0o755)
    folder = tmp_path / "run-service"
    folder.mkdir()
    return owned_by_nobody(folder)


@pytest.fixture
def root_only_file(tmp_path):
    secret = tmp_path / "shadow"
    secret.write_bytes(SECRET)
    secret.chmod(0o600)
    return secret


def observe_within(seconds, *args):
    """observe() in a thread: a blocking open would otherwise hang the test run itself."""
    result = []
    worker = threading.Thread(target=lambda: result.append(observe(*args)), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"observe{args} still blocked after {seconds} s"
    return result[0]


class StatusLines:
    """The daemon's stdout read by a thread: a daemon that hangs fails the wait, not the run."""

    def __init__(self, daemon):
        self.lines = queue.Queue()
        threading.Thread(target=lambda: [self.lines.put(line) for line in daemon.stdout],
                         daemon=True).start()

    def wait_for(self, text, within=10.0):
        try:
            while True:
                line = self.lines.get(timeout=within)
                if text in line:
                    return line
        except queue.Empty:
            raise AssertionError(f"no status line with {text!r} within {within} s") from None


def stop(daemon) -> int | str:
    """SIGTERM, then the exit code; a daemon still running 15 s later is killed and said so."""
    daemon.send_signal(signal.SIGTERM)
    try:
        return daemon.wait(timeout=15)
    except subprocess.TimeoutExpired:
        daemon.kill()
        daemon.wait()
        return "still running 15 s after SIGTERM"


def watched_sleep(root, pidfile) -> subprocess.Popen:
    """A `sleep` standing in for a service, with its pidfile, named in the root's monitor.conf."""
    service = subprocess.Popen(["sleep", "300"])
    pidfile.write_text(f"{service.pid}\n")
    write_monitor_conf(root, pidfile)
    return service


def test_a_fifo_in_place_of_a_pidfile_is_down_at_once_not_a_hang(service_folder):
    pidfile = service_folder / "dnsmasq.pid"
    os.mkfifo(pidfile)
    owned_by_nobody(pidfile)
    seen = observe_within(5, "dnsmasq", str(pidfile))
    assert seen.state is ServiceState.DOWN
    assert seen.reason == f"pidfile {pidfile} cannot be read: not a regular file"


def test_a_symlink_in_place_of_a_pidfile_is_not_followed(service_folder, root_only_file):
    pidfile = service_folder / "dnsmasq.pid"
    pidfile.symlink_to(root_only_file)
    owned_by_nobody(pidfile)
    seen = observe_within(5, "dnsmasq", str(pidfile))
    assert seen.state is ServiceState.DOWN
    assert seen.reason == f"pidfile {pidfile} cannot be read: a symlink, not followed"
    assert "4242" not in seen.reason and "secret" not in seen.reason


def test_a_symlinked_folder_on_the_way_to_a_pidfile_is_not_followed(service_folder, tmp_path):
    real = tmp_path / "elsewhere"
    real.mkdir()
    (real / "dnsmasq.pid").write_text(f"{os.getpid()}\n")
    link = service_folder / "sub"
    link.symlink_to(real)
    owned_by_nobody(link)
    seen = observe_within(5, "python3", str(link / "dnsmasq.pid"))
    assert seen.state is ServiceState.DOWN
    assert "a symlink on the way that another user could have placed ('sub')" in seen.reason


def test_a_root_only_pidfile_that_is_not_a_pid_is_not_quoted(service_folder):
    """A hard link, or root's own file: whatever it holds stays out of daemon.json's reasons."""
    pidfile = service_folder / "dnsmasq.pid"
    pidfile.write_bytes(b"secret-token\n")
    pidfile.chmod(0o600)
    seen = observe("dnsmasq", str(pidfile))
    assert seen.reason == f"pidfile {pidfile} does not hold a PID (its content is not shown: mode 0600)"
    pidfile.chmod(0o644)  # anyone may read it: quoting it tells no one anything new
    assert observe("dnsmasq", str(pidfile)).reason == f"pidfile {pidfile} holds 'secret-token', not a PID"


def test_symlinks_root_placed_are_followed(tmp_path):
    """/var/run -> /run: a link in a folder only root controls is root's own and is followed."""
    real = tmp_path / "run"
    real.mkdir()
    (real / "x.pid").write_text("17\n")
    (tmp_path / "var-run").symlink_to(real)
    data, _ = read_regular(tmp_path / "var-run" / "x.pid", 64)
    assert data == b"17\n"


def test_the_prometheus_file_is_never_written_through_a_symlinked_folder(tmp_path):
    """prometheus owns /var/lib/prometheus: node-exporter swapped for a symlink to /etc (here a
    root-only folder) must not get root's vrmonitor.prom."""
    paths = Paths(tmp_path)
    tmp_path.chmod(0o755)
    lib = tmp_path / "var/lib/prometheus"
    lib.mkdir(parents=True)
    owned_by_nobody(lib)
    target = tmp_path / "etc-cron.d"
    target.mkdir(mode=0o700)
    (lib / "node-exporter").symlink_to(target)
    owned_by_nobody(lib / "node-exporter")
    with pytest.raises(UnsafePath) as raised:
        prometheus.write(paths, "vrmonitor_up 1\n")
    assert raised.value.filename == str(lib / "node-exporter")
    assert os.listdir(target) == []
    # The folder as the node exporter's package makes it (owned by prometheus): written.
    (lib / "node-exporter").unlink()
    (lib / "node-exporter").mkdir()
    owned_by_nobody(lib / "node-exporter")
    prometheus.write(paths, "vrmonitor_up 1\n")
    written = lib / "node-exporter/vrmonitor.prom"
    assert written.read_text() == "vrmonitor_up 1\n" and written.stat().st_uid == 0
    assert oct(written.stat().st_mode & 0o777) == "0o644"  # the node exporter reads it


def test_a_temporary_name_planted_as_a_symlink_is_not_written_through(tmp_path, monkeypatch):
    """The other user can guess the temporary's name (here: made certain): a link planted
    there must not be opened. The write fails, naming its target, and nothing is touched."""
    folder = tmp_path / "shared"
    folder.mkdir()
    owned_by_nobody(folder)
    victim = tmp_path / "victim"
    victim.write_bytes(SECRET)
    monkeypatch.setattr("vrmonitor.system.files.secrets.token_hex", lambda n: "0" * (2 * n))
    planted = folder / f".out.tmp-{os.getpid()}-00000000"
    planted.symlink_to(victim)
    owned_by_nobody(planted)
    with pytest.raises(FileExistsError) as raised:
        atomic_write(folder / "out", "new\n")
    assert raised.value.filename == str(folder / "out")
    assert victim.read_bytes() == SECRET and not (folder / "out").exists()


def test_a_daemon_watching_a_fifo_pidfile_keeps_monitoring_and_stops_on_sigterm(tmp_path, service_folder):
    """The issue's example end to end: before, the daemon blocked in open() for good."""
    pidfile = service_folder / "sleeper.pid"
    service = watched_sleep(tmp_path, pidfile)
    other = subprocess.Popen(["sleep", "300"])
    try:
        with open(tmp_path / "etc/monitor.conf", "a") as conf:
            conf.write(f"[other]\nprocessname=sleep\nservicename=other\npidfile={tmp_path / 'other.pid'}\n")
        (tmp_path / "other.pid").write_text(f"{other.pid}\n")
        daemon = start_daemon(tmp_path)
        status = StatusLines(daemon)
        try:
            status.wait_for("services up 2/2")
            pidfile.unlink()
            os.mkfifo(pidfile)
            owned_by_nobody(pidfile)
            service.kill()
            service.wait()
            line = status.wait_for("services up 1/2")
            assert "not a regular file" in line
            other.kill()
            other.wait()
            status.wait_for("services up 0/2")  # still monitoring the rest
        finally:
            code = stop(daemon)  # the defect: blocked in open(), SIGTERM never handled
        assert code == 0
        assert daemon.stderr.read() == ""
    finally:
        for process in (service, other):
            process.kill()
            process.wait()
