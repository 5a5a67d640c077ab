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


# After a refused write (a full or read-only /var), the next try comes this much later: a
# reader must not be left with a picture of services that changed since, but the loop need not
# try on every turn.
RETRY_AFTER = 1.0


class StatePublisher:
    def __init__(self, path, monitor, wall: Callable[[], float], identity: dict,
                 on_change: Callable[[str], None], monotonic: Callable[[], float]):
        """identity: the fields naming this daemon (pid, started, started_ticks, boot_start,
        init); on_change(summary) runs after each change the loop publishes (the first
        picture goes out with READY=1 instead)."""
        self._path = path
        self._monitor = monitor
        self._wall = wall
        self._monotonic = monotonic
        self._identity = identity
        self._on_change = on_change
        self.services: dict | None = None  # the last snapshot published
        self.version = 0  # counts changes: a reader tells whether anything changed since it looked
        self._retry_at: float | None = None  # set while the file holds an older picture

    def next_due(self) -> float:
        # Otherwise every turn of the loop: a change is published on the turn it happens.
        return math.inf if self._retry_at is None else self._retry_at

    def tick(self, now: float) -> None:
        if self.publish():
            self._on_change(self._monitor.summary())

    def publish(self) -> bool:
        """Write the state if the snapshot changed, or if an earlier write was refused; whether
        the snapshot changed."""
        services = self._monitor.snapshot(self._wall())
        changed = services != self.services
        if changed:
            self.services = services
            self.version += 1
        elif self._retry_at is None or self._monotonic() < self._retry_at:
            return False
        state = {"pid": os.getpid(), **self._identity, "boot_id": read_boot_id(), "boot": boot_key(),
                 "updated": self._wall(), "services": services}
        state = {key: state[key] for key in FIELD_ORDER}
        try:
            atomic_write(self._path, json.dumps(state, indent=1) + "\n")
        except OSError as exc:
            if self._retry_at is None:  # once per outage, not once a second
                LOG.error("cannot write %s: %s; retrying every %g s", self._path, exc, RETRY_AFTER)
            self._retry_at = self._monotonic() + RETRY_AFTER
            return changed
        if self._retry_at is not None:
            LOG.warning("%s written again", self._path)
            self._retry_at = None
        return changed


# daemon.json's keys in the order they have always been written.
FIELD_ORDER = ("pid", "started", "started_ticks", "boot_id", "boot", "boot_start", "updated",
               "init", "services")
