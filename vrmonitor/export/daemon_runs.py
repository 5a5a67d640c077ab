"""/var/lib/vrmonitor/daemon-runs.json: whether the previous daemon of this boot stopped cleanly.

A daemon killed by systemd's watchdog (SIGABRT), by a crash or by kill -9 leaves no word of it;
the next one can only tell that its predecessor never said goodbye. Each daemon marks the file
`running` at its start and clears the mark on a clean stop; a start that finds the mark set
counts one unclean restart. The count is kept for the boot (a reboot starts it afresh, as the
monotonic clock and daemon.json's carry-over do).
"""

import json
import logging

from vrmonitor.system import state_file as sf
from vrmonitor.system.boot import boot_key
from vrmonitor.system.files import atomic_write

LOG = logging.getLogger(__name__)

SHAPE = sf.record(("boot", "running", "unclean_restarts"), boot=sf.text, running=sf.flag,
                  unclean_restarts=sf.integer())


class DaemonRuns:
    def __init__(self, paths, boot: str | None = None):
        self._path = paths.state_dir / "daemon-runs.json"
        self._boot = boot if boot is not None else boot_key()
        self.unclean_restarts = 0

    def started(self) -> None:
        """At the daemon's start: count a predecessor of this boot that never stopped cleanly."""
        before = sf.load(self._path, SHAPE)  # damaged: logged, set aside, start afresh
        if before is not None and before["boot"] == self._boot:
            self.unclean_restarts = before["unclean_restarts"] + (1 if before["running"] else 0)
        self._save(running=True)

    def stopped(self) -> None:
        """At a clean stop."""
        self._save(running=False)

    def _save(self, running: bool) -> None:
        state = {"boot": self._boot, "running": running, "unclean_restarts": self.unclean_restarts}
        try:
            atomic_write(self._path, json.dumps(state) + "\n")
        except OSError as exc:
            LOG.error("cannot write %s: %s", self._path, exc)
