"""The daemon: builds everything once and runs one loop; signal handlers only set flags.

The loop sleeps in a selector on a wake-up pipe that receives every signal (signal.set_wakeup_fd),
so SIGTERM is acted on at once while all timing stays on the monotonic clock.
"""

import logging
import os
import selectors
import signal
import sys
import time
from dataclasses import dataclass, field
from typing import Callable, TextIO

from vrmonitor.paths import Paths
from vrmonitor.services.detect import Observation, ServiceState, observe
from vrmonitor.system.notify import Notifier

LOG = logging.getLogger(__name__)

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class _Flags:
    stop: bool = False
    reload: bool = False


@dataclass
class _Watched:
    section: str
    processname: str
    pidfile: str | None
    last: Observation | None = None


@dataclass
class Daemon:
    paths: Paths
    verify_interval: float
    load_services: Callable[[], list]  # -> entries with section, processname, pidfile
    notifier: Notifier = field(default_factory=Notifier)
    status_every: float = 0.0  # seconds between status lines on `out`; 0: none
    out: TextIO = sys.stdout
    _flags: _Flags = field(default_factory=_Flags)

    def run(self) -> int:
        """Monitor until SIGTERM or SIGINT; return the exit code (0)."""
        selector = selectors.DefaultSelector()
        wake_read, wake_write = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        selector.register(wake_read, selectors.EVENT_READ)
        previous = self._install_signals(wake_write)
        try:
            watched = self._watch_list()
            self._verify(watched)
            self.notifier.ready(self._summary(watched))
            self._loop(selector, wake_read, watched)
        finally:
            self.notifier.stopping()
            self._restore_signals(previous)
            selector.close()
            os.close(wake_read)
            os.close(wake_write)
        return 0

    def _loop(self, selector, wake_read: int, watched: list[_Watched]) -> None:
        now = time.monotonic()
        next_verify = now + self.verify_interval
        next_status = now if self.status_every else float("inf")
        watchdog = self.notifier.watchdog_interval
        next_watchdog = now if watchdog else float("inf")
        while not self._flags.stop:
            now = time.monotonic()
            if self._flags.reload:
                self._flags.reload = False
                watched = self._watch_list()
                next_verify = now
            if now >= next_verify:
                self._verify(watched)
                self.notifier.status(self._summary(watched))
                next_verify = now + self.verify_interval
            if now >= next_status:
                self._verify(watched)
                self._print_status(watched)
                next_status = now + self.status_every
            if now >= next_watchdog:
                self.notifier.watchdog()
                next_watchdog = now + watchdog
            timeout = max(0.0, min(next_verify, next_status, next_watchdog) - time.monotonic())
            if selector.select(timeout):
                _drain(wake_read)

    def _watch_list(self) -> list[_Watched]:
        return [_Watched(e.section, e.processname, e.pidfile) for e in self.load_services()]

    @staticmethod
    def _verify(watched: list[_Watched]) -> None:
        for service in watched:
            known = service.last.identity if service.last else None
            service.last = observe(service.processname, service.pidfile, known)

    @staticmethod
    def _summary(watched: list[_Watched]) -> str:
        up = sum(1 for s in watched if s.last and s.last.state is ServiceState.UP)
        return f"services up {up}/{len(watched)}"

    def _print_status(self, watched: list[_Watched]) -> None:
        parts = [f"{s.section} {s.last.state.value} ({s.last.reason})" for s in watched]
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{stamp} {self._summary(watched)}: " + (" | ".join(parts) or "nothing to monitor"),
              file=self.out, flush=True)

    def _install_signals(self, wake_write: int):
        def stop(signum, frame):
            self._flags.stop = True

        def reload(signum, frame):
            self._flags.reload = True

        previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
        previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
        previous["wakeup"] = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)
        return previous

    @staticmethod
    def _restore_signals(previous) -> None:
        signal.set_wakeup_fd(previous.pop("wakeup"))
        for sig, handler in previous.items():
            signal.signal(sig, handler)


def _drain(fd: int) -> None:
    try:
        while os.read(fd, 512):
            pass
    except BlockingIOError:
        pass
