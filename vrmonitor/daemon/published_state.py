"""daemon.json: the daemon's picture, read by `vrmonitor status`, by basic health runs and by
the next daemon of the same boot (to carry on without re-alerting). Written atomically, and
only when the services' snapshot changed; each change also goes to systemd's STATUS=."""

import json
import logging
import math
import os
from typing import Callable

from vrmonitor.system.boot import boot_key, read_boot_id
from vrmonitor.system.files import atomic_write

LOG = logging.getLogger(__name__)


class StatePublisher:
    def __init__(self, path, monitor, wall: Callable[[], float], identity: dict,
                 on_change: Callable[[str], None]):
        """identity: the fields naming this daemon (pid, started, started_ticks, boot_start,
        init); on_change(summary) runs after each change the loop publishes (the first
        picture goes out with READY=1 instead)."""
        self._path = path
        self._monitor = monitor
        self._wall = wall
        self._identity = identity
        self._on_change = on_change
        self.services: dict | None = None  # the last snapshot published
        self.version = 0  # counts changes: a reader tells whether anything changed since it looked

    def next_due(self) -> float:
        return math.inf  # every turn of the loop: a change is published on the turn it happens

    def tick(self, now: float) -> None:
        if self.publish():
            self._on_change(self._monitor.summary())

    def publish(self) -> bool:
        """Write the state if the snapshot changed; whether it did."""
        services = self._monitor.snapshot(self._wall())
        if services == self.services:
            return False
        self.services = services
        self.version += 1
        state = {"pid": os.getpid(), **self._identity, "boot_id": read_boot_id(), "boot": boot_key(),
                 "updated": self._wall(), "services": services}
        state = {key: state[key] for key in FIELD_ORDER}
        try:
            atomic_write(self._path, json.dumps(state, indent=1) + "\n")
        except OSError as exc:
            LOG.error("cannot write %s: %s", self._path, exc)
        return True


# daemon.json's keys in the order they have always been written.
FIELD_ORDER = ("pid", "started", "started_ticks", "boot_id", "boot", "boot_start", "updated",
               "init", "services")
