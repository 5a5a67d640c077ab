"""A router's files under a temporary root, a watched `sleep` service with a real init script,
and the daemon run for real on them (shared by the crash, fault and load tests).

The service is a `sleep` started by /etc/init.d/<name> through start-stop-daemon, carrying a
mark in its environment so that the test finds (and ends) only the processes it started.
"""

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from tests.conftest import require_root

PROJECT = Path(__file__).resolve().parents[1]
ENV = {"PYTHONPATH": str(PROJECT), "PATH": "/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}
FOLDERS = ("", "root", "root/health_checks", "etc", "etc/vrmonitor", "run")
FAST_SERVICES_TOML = ("[services]\nverify_interval = 0.5\nbackoff_initial = 0.1\nbackoff_max = 0.5\n"
                      "restart_attempts = 100\n")


@contextmanager
def temporary_vm(tag: str, what: str, **options):
    """A VmRoot in a new temporary folder (root needed for `what`), cleaned up and removed after."""
    require_root(what, "an init script in /etc/init.d, `service`")
    folder = Path(tempfile.mkdtemp(prefix=f"vrmonitor-{tag}-{os.getpid()}-"))
    vm = VmRoot(folder, tag=tag, **options)
    try:
        yield vm
    finally:
        vm.cleanup()
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def sleeping_router(folder: Path, extra_folders: tuple[str, ...] = ()):
    """A router-like root under `folder` for the entry-point tests: root-owned 0755 folders (the
    trust policy walks up to the root), a `sleep` as its only service in monitor.conf, the
    compat entry points installed and the built-in checks removed (they would look at this
    machine's real services; they have tests of their own). Yields the root."""
    from vrmonitor.compat.install import install
    from vrmonitor.paths import Paths

    root = folder / "vm"
    for part in ("", "root", "root/health_checks", "etc", "opt", "opt/cloud", "opt/cloud/bin",
                 *extra_folders):
        (root / part).mkdir(mode=0o755, exist_ok=True)
        os.chmod(root / part, 0o755)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        pidfile = folder / "sleeper.pid"
        pidfile.write_text(f"{sleeper.pid}\n")
        (root / "etc/monitor.conf").write_text(
            f"[ssh]\nprocessname=sleep\nservicename=vrmonitor-test-none\npidfile={pidfile}\n")
        install(Paths(root))
        for builtin in (root / "root/health_checks").glob("*_check.py"):
            builtin.unlink()
        yield root
    finally:
        sleeper.kill()
        sleeper.wait()


def check_script(kind: str, seconds: float, status: int, text: str) -> str:
    """A shell health check of `kind` that sleeps, prints `text` and exits with `status`."""
    return (f'#!/bin/sh\n[ "$1" = {kind} ] || exit 0\nsleep {seconds}\n'
            f'echo "{text}"\nexit {status}\n')


class VmRoot:
    """`folder`/vm as a router's `/`, with one watched service, `svc`, named `section`."""

    def __init__(self, folder: Path, tag: str = "vm", section: str = "crashsvc"):
        self.root = folder / "vm"
        self.section = section
        self.service = f"vrmonitor-{tag}-{os.getpid()}"
        self.init_script = Path("/etc/init.d") / self.service
        self.pidfile = self.root / "run" / f"{section}.pid"
        self.starts_log = self.root / "run" / f"{section}.starts"  # a line per init-script start
        self.mark = f"VRMONITOR_TEST_MARK={self.service}-{time.time_ns()}"
        self.daemon: subprocess.Popen | None = None

    # --- building ---

    def build(self, toml: str = FAST_SERVICES_TOML, checks: dict[str, str] | None = None,
              interval: int = 1, service_command: str = "/usr/bin/sleep -- 86400") -> None:
        """The folders, monitor.conf, vrmonitor.toml, health_checks_data.json, `checks`
        ({name: script text}) and the init script starting `service_command` (its executable
        first; start-stop-daemon's --exec)."""
        for folder in FOLDERS:
            (self.root / folder).mkdir(parents=True, exist_ok=True)
            os.chmod(self.root / folder, 0o755)
        os.chmod(self.root.parent, 0o755)
        name = Path(service_command.split()[0]).name
        (self.root / "etc/monitor.conf").write_text(
            f"[{self.section}]\nprocessname={name}\nservicename={self.service}\npidfile={self.pidfile}\n")
        (self.root / "etc/vrmonitor/vrmonitor.toml").write_text(toml)
        self.write_health_data(interval)
        for script_name, text in (checks or {}).items():
            script = self.root / "root/health_checks" / script_name
            script.write_text(text)
            script.chmod(0o755)
        self.write_init_script(service_command)

    def write_init_script(self, service_command: str) -> None:
        """/etc/init.d/<service>, starting `service_command` (its executable first) in the
        background with a pidfile, as Debian's init scripts do with start-stop-daemon."""
        executable = service_command.split()[0]
        arguments = service_command.split(maxsplit=1)[1] if " " in service_command else ""
        self.init_script.write_text(f"""#!/bin/sh
# vrmonitor's tests (tests/vmroot.py); removed by the test.
PIDFILE={self.pidfile}
case "$1" in
  start) date +%s.%N >> {self.starts_log}
         env {self.mark} start-stop-daemon --start --quiet --background --make-pidfile \\
           --pidfile "$PIDFILE" --exec {executable} {arguments} ;;
  stop) start-stop-daemon --stop --quiet --oknodo --retry 5 --pidfile "$PIDFILE" --exec {executable}
        rm -f "$PIDFILE" ;;
  restart) "$0" stop && "$0" start ;;
  status) start-stop-daemon --status --pidfile "$PIDFILE" --exec {executable} ;;
  *) exit 2 ;;
esac
""")
        self.init_script.chmod(0o755)

    def write_health_data(self, interval: int = 1, **extra) -> None:
        data = {"health_checks_basic_run_interval": interval,
                "health_checks_advanced_run_interval": interval,
                "health_checks_enabled": True, "excluded_health_checks": [],
                "health_checks_config": {}}
        data.update(extra)
        (self.root / "root/health_checks_data.json").write_text(json.dumps(data))

    # --- running ---

    def vrmonitor(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(self.root), *args],
                              check=False, capture_output=True, text=True, env=ENV, timeout=timeout)

    def service_ctl(self, action: str) -> subprocess.CompletedProcess:
        return subprocess.run(["service", self.service, action], check=False, capture_output=True,
                              text=True, timeout=30, env=ENV)

    def start_daemon(self, prefix: tuple[str, ...] = (), env: dict | None = None) -> subprocess.Popen:
        """The daemon in the foreground; `prefix` wraps the command (unshare, nsenter, ...)."""
        self.daemon = subprocess.Popen(
            [*prefix, sys.executable, "-m", "vrmonitor", "--root", str(self.root), "run", "--foreground"],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            env=dict(ENV, **(env or {})))
        return self.daemon

    def stop_daemon(self) -> str:
        """SIGTERM; the daemon must exit 0. Its stderr (the log) is returned."""
        self.daemon.send_signal(signal.SIGTERM)
        code = self.daemon.wait(timeout=30)
        log = self.daemon.stderr.read()
        self.daemon.stderr.close()
        assert code == 0, f"the daemon exited {code}:\n{log}"
        return log

    def kill_daemon(self) -> None:
        os.kill(self.daemon.pid, signal.SIGKILL)
        self.daemon.wait()
        self.daemon.stderr.close()

    def alive(self) -> None:
        """Raises when the daemon has exited (for use inside wait_for conditions)."""
        if self.daemon.poll() is not None:
            raise AssertionError(f"the daemon exited {self.daemon.returncode}: {self.daemon.stderr.read()}")

    # --- looking ---

    def state(self) -> dict:
        try:
            return json.loads((self.root / "var/lib/vrmonitor/daemon.json").read_text())
        except (FileNotFoundError, ValueError):
            return {}

    def service_state(self) -> dict:
        """The watched service as the running daemon last wrote it ({} before that)."""
        state = self.state()
        if self.daemon is None or state.get("pid") != self.daemon.pid:
            return {}
        return state.get("services", {}).get(self.section, {})

    def sees_service_up(self) -> bool:
        return self.service_state().get("state") == "up"

    def alerts(self) -> list[dict]:
        """Every alert the feed has, oldest first, as `vrmonitor alerts --format json` gives them."""
        feed = self.vrmonitor("alerts", "--format", "json", "--after", "0")
        assert feed.returncode == 0, feed.stderr
        return [json.loads(line) for line in feed.stdout.splitlines()]

    def starts(self) -> int:
        """How many times the init script was asked to start the service."""
        try:
            return len(self.starts_log.read_text().splitlines())
        except FileNotFoundError:
            return 0

    def service_pid(self) -> int | None:
        """The pidfile's PID when it is a live process started by this test's init script."""
        return next(iter(self.marked([self.pidfile])), None)

    def marked(self, pidfiles=None) -> list[int]:
        """Live processes carrying this test's mark (from the pidfiles only, or all of them)."""
        if pidfiles is not None:
            candidates = []
            for pidfile in pidfiles:
                try:
                    candidates.append(int(pidfile.read_text().strip()))
                except (FileNotFoundError, ValueError):
                    pass
        else:
            candidates = [int(e) for e in os.listdir("/proc") if e.isdigit()]
        found = []
        for pid in candidates:
            try:
                environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
                state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
            except OSError:  # gone, or not ours to read (PID 1 here)
                continue
            if self.mark.encode() in environ and state != "Z":
                found.append(pid)
        return found

    def running_checks(self) -> list[int]:
        """PIDs of the daemon's children that are health checks."""
        pids = []
        for task in Path(f"/proc/{self.daemon.pid}/task").glob("*"):
            try:
                pids.extend(int(p) for p in (task / "children").read_text().split())
            except (FileNotFoundError, ProcessLookupError):
                continue
        checks = []
        for pid in pids:
            try:
                if b"/health_checks/" in Path(f"/proc/{pid}/cmdline").read_bytes():
                    checks.append(pid)
            except (FileNotFoundError, ProcessLookupError):
                continue
        return checks

    def cleanup(self) -> None:
        if self.daemon is not None and self.daemon.poll() is None:
            self.daemon.kill()
            self.daemon.wait()
        if self.init_script.exists():
            self.service_ctl("stop")
            self.init_script.unlink()
        for pid in self.marked():  # a service restarted by an init script a killed daemon ran
            os.kill(pid, signal.SIGKILL)
