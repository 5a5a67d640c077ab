"""Signals only set flags and wake the loop (through the wake-up fd); the loop acts on them."""

import signal
from dataclasses import dataclass, field

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@dataclass
class SignalFlags:
    stop: bool = False
    reload: bool = False
    _previous: dict = field(default_factory=dict)

    def install(self, wake_write: int) -> None:
        def stop(signum, frame):
            self.stop = True

        def reload(signum, frame):
            self.reload = True

        self._previous = {sig: signal.signal(sig, stop) for sig in STOP_SIGNALS}
        self._previous[signal.SIGHUP] = signal.signal(signal.SIGHUP, reload)
        self._previous["wakeup"] = signal.set_wakeup_fd(wake_write, warn_on_full_buffer=False)

    def restore(self) -> None:
        signal.set_wakeup_fd(self._previous.pop("wakeup"))
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        self._previous = {}

    def take_reload(self) -> bool:
        asked, self.reload = self.reload, False
        return asked
