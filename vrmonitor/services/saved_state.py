"""daemon.json: what the running daemon publishes, for `vrmonitor status`, basic health runs and
the next daemon of the same boot. Its shape, and its reading as untrusted input.

Every key is optional (an older daemon wrote fewer), but a key that is there has the type the
daemon writes. A file that breaks that is damaged: set aside, and the reader starts afresh.
A service's keys live with their type, services/snapshot.py, and their shapes beside it in
services/snapshot_shapes.py (which imports no dataclasses: cron's hand-off reads this file).
"""

from vrmonitor.locations import DAEMON_STATE, under
from vrmonitor.services.snapshot_shapes import PID_MAX, SHAPES
from vrmonitor.system import state_file as sf

SERVICE = sf.record(**SHAPES)

DAEMON_STATE_SHAPE = sf.record(
    pid=sf.integer(1, PID_MAX), started=sf.number(), started_ticks=sf.nullable(sf.integer()),
    boot_id=sf.text, boot=sf.text, boot_start=sf.number(), updated=sf.number(), init=sf.text,
    services=sf.table(SERVICE),
)


def read_daemon_state(paths) -> dict | None:
    """daemon.json when it is sound; None when absent or damaged (then logged and set aside)."""
    return sf.load(paths.daemon_state, DAEMON_STATE_SHAPE)


def read_daemon_state_under(root: str) -> dict | None:
    """read_daemon_state() of the root folder `root`, for a caller with no Paths."""
    return sf.load(under(root, DAEMON_STATE), DAEMON_STATE_SHAPE)


def service_problem(saved: object) -> str | None:
    """What is wrong with one service's saved state (None: nothing)."""
    return sf.problem(SERVICE, saved)
