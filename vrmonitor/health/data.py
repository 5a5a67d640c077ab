"""/root/health_checks_data.json as the health engine sees it: re-read on change, last good kept.

The management server rewrites the file every few minutes. A missing file means checks are
disabled. A file that is now invalid (truncated by a full disk, wrong types) does not switch
the checks off: the previous valid data stays in force, and the problem is reported.
"""

import logging
import os
import threading
from dataclasses import dataclass

from vrmonitor.cloudstack.health_data import HealthChecksData, load_health_data
from vrmonitor.errors import ConfigError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class DataState:
    data: HealthChecksData | None  # None: no file, checks disabled
    problem: str | None  # why the current file is not in force, if it is not


class HealthDataSource:
    def __init__(self, path):
        self._path = path
        self._stamp = object()
        self._state = DataState(None, None)
        self._last_good: HealthChecksData | None = None
        self._lock = threading.Lock()  # the daemon's loop and its health runs both read it

    def forget(self) -> None:
        """Read the file again at the next load, changed or not."""
        with self._lock:
            self._stamp = object()

    def load(self) -> DataState:
        with self._lock:
            return self._load()

    def _load(self) -> DataState:
        try:
            info = os.stat(self._path)
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp == self._stamp:
            return self._state
        self._stamp = stamp
        try:
            data = load_health_data(self._path)
        except ConfigError as exc:
            problem = "; ".join(exc.problems) or str(exc)
            kept = "the previous valid data stays in force" if self._last_good else "checks are not run"
            LOG.error("%s (%s)", problem, kept)
            self._state = DataState(self._last_good, f"{problem} ({kept})")
            return self._state
        self._last_good = data
        self._state = DataState(data, None)
        return self._state
