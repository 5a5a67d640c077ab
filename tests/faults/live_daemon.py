"""The daemon of a VmRoot, run for real, with its log read as it is written and its health runs
started on demand, for the fault tests.

A thread drains the daemon's stderr, so a fault that makes it log a lot never blocks it on a
full pipe, and a test can wait for a line. A health run is started through the contract:
health_checks_data.json gets another interval (1 <-> 2 minutes), and a new schedule starts with
a run of each kind. The file is rewritten in place with the same length, so this works on a
full disk too.
"""

import json
import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

from tests.vmroot import ENV, VmRoot
from tests.waiting import wait_for


class LiveDaemon:
    def __init__(self, vm: VmRoot, prefix: tuple[str, ...] = (), view=lambda path: path):
        """prefix: wraps the daemon's command (a mount namespace's nsenter); view(path): where
        the test reads a path the daemon sees."""
        self.vm = vm
        self.prefix = prefix
        self.view = view
        self.lines: list[str] = []
        self.process = vm.start_daemon(prefix)
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        for line in self.process.stderr:
            self.lines.append(line.rstrip("\n"))

    @property
    def pid(self) -> int:
        return self.process.pid

    def log(self) -> str:
        return "\n".join(self.lines)

    def running(self) -> bool:
        """False never: raises, with the log, when the daemon has exited."""
        if self.process.poll() is not None:
            self._reader.join(timeout=5)
            raise AssertionError(f"the daemon exited {self.process.returncode}:\n{self.log()}")
        return True

    def wait(self, condition, what: str, within: float = 20.0):
        """wait_for while the daemon runs; a timeout says what the daemon logged meanwhile."""
        mark = len(self.lines)
        try:
            return wait_for(lambda: self.running() and condition(), what, within=within)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; the daemon's log meanwhile:\n" + "\n".join(self.lines[mark:])) from None

    def wait_log(self, text: str, after: int = 0, within: float = 30.0) -> str:
        """The first log line from index `after` on that contains `text`."""
        try:
            return wait_for(lambda: self.running() and next(
                (line for line in self.lines[after:] if text in line), None),
                f"the daemon logs {text!r}", within=within)
        except AssertionError as exc:
            raise AssertionError(f"{exc}; its log since:\n" + "\n".join(self.lines[after:])) from None

    def fd_count(self) -> int:
        return len(os.listdir(f"/proc/{self.pid}/fd"))

    def start_runs(self) -> None:
        """Both kinds run now (see the module docstring)."""
        path = self.view(self.vm.root / "root/health_checks_data.json")
        data = json.loads(path.read_bytes())
        interval = 2 if data["health_checks_basic_run_interval"] == 1 else 1
        data["health_checks_basic_run_interval"] = data["health_checks_advanced_run_interval"] = interval
        with open(path, "r+b") as handle:
            handle.write(json.dumps(data).encode())

    def vrmonitor(self, *args: str) -> subprocess.CompletedProcess:
        """The CLI on the daemon's root, where the daemon runs (inside its namespace)."""
        return subprocess.run([*self.prefix, sys.executable, "-m", "vrmonitor", "--root",
                               str(self.vm.root), *args],
                              check=False, capture_output=True, text=True, env=ENV, timeout=60)

    def alerts(self) -> list[dict]:
        feed = self.vrmonitor("alerts", "--format", "json", "--after", "0")
        assert feed.returncode == 0, feed.stderr
        return [json.loads(line) for line in feed.stdout.splitlines()]

    def stop(self) -> str:
        """SIGTERM; the daemon must exit 0. Returns its whole log."""
        self.process.send_signal(signal.SIGTERM)
        code = self.process.wait(timeout=30)
        self._reader.join(timeout=10)
        self.process.stderr.close()
        assert code == 0, f"the daemon exited {code}:\n{self.log()}"
        return self.log()


def results(path: Path) -> dict:
    """A result file, which must be whole JSON."""
    data = path.read_bytes()
    try:
        return json.loads(data)
    except ValueError as exc:
        raise AssertionError(f"{path} is not whole JSON ({exc}): {data[:200]!r}") from None
