"""daemon.json: what the running daemon publishes, for `vrmonitor status`, basic health runs and
the next daemon of the same boot. Its shape, and its reading as untrusted input.

Every key is optional (an older daemon wrote fewer), but a key that is there has the type the
daemon writes. A file that breaks that is damaged: set aside, and the reader starts afresh.
A service's keys and shapes live with their type, services/snapshot.py.
"""

from vrmonitor.services.snapshot import PID_MAX, ServiceSnapshot
from vrmonitor.system import state_file as sf

SERVICE = sf.record(**ServiceSnapshot.shapes())

DAEMON_STATE = sf.record(
    pid=sf.integer(1, PID_MAX), started=sf.number(), started_ticks=sf.nullable(sf.integer()),
    boot_id=sf.text, boot=sf.text, boot_start=sf.number(), updated=sf.number(), init=sf.text,
    services=sf.table(SERVICE),
)


def read_daemon_state(paths) -> dict | None:
    """daemon.json when it is sound; None when absent or damaged (then logged and set aside)."""
    return sf.load(paths.daemon_state, DAEMON_STATE)


def service_problem(saved: object) -> str | None:
    """What is wrong with one service's saved state (None: nothing)."""
    return sf.problem(SERVICE, saved)
