"""The service list from /etc/monitor.conf, re-parsed only when the file changes."""

import logging
import os

from vrmonitor.cloudstack.monitor_conf import load_monitor_conf
from vrmonitor.errors import ConfigError

LOG = logging.getLogger(__name__)


class MonitorConfSource:
    def __init__(self, path):
        self._path = path
        self._stamp = object()  # never equal to a real stamp: the first load parses
        self._entries: tuple = ()

    def load(self) -> tuple[tuple, object]:
        """(entries, fingerprint); the fingerprint changes whenever the file does."""
        try:
            info = os.stat(self._path)
            stamp = (info.st_ino, info.st_size, info.st_mtime_ns)
        except FileNotFoundError:
            stamp = None
        if stamp != self._stamp:
            try:
                conf = load_monitor_conf(self._path)
            except ConfigError as exc:  # unreadable now: keep watching what we had
                LOG.error("%s", exc)
                return self._entries, self._stamp
            for problem in conf.problems:
                LOG.warning("%s", problem)
            self._stamp, self._entries = stamp, conf.services
        return self._entries, self._stamp
