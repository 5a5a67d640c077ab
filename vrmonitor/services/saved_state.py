"""daemon.json: what the running daemon publishes, for `vrmonitor status`, basic health runs and
the next daemon of the same boot. Its shape, and its reading as untrusted input.

Every key is optional (an older daemon wrote fewer), but a key that is there has the type the
daemon writes. A file that breaks that is damaged: set aside, and the reader starts afresh.
"""

from vrmonitor.system import state_file as sf

PID_MAX = 4194304  # the kernel's PID_MAX_LIMIT

SERVICE = sf.record(
    processname=sf.text, servicename=sf.text, state=sf.text, since=sf.number(), reason=sf.text,
    pid=sf.nullable(sf.integer(1, PID_MAX)), recovering=sf.flag, parked=sf.flag,
    blocked=sf.nullable(sf.text), crash_loop=sf.flag, restarts_last_hour=sf.integer(),
    restarted_at=sf.nullable(sf.number()), last_action=sf.text, last_outcome=sf.text,
    restart_monotonic=sf.list_of(sf.number()), failed_attempts=sf.integer(),
    down_alerted=sf.flag, seen_up=sf.flag, on_trial_monotonic=sf.nullable(sf.number()),
    seen_pid=sf.nullable(sf.integer(1, PID_MAX)), seen_start_ticks=sf.nullable(sf.integer()),
)

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
