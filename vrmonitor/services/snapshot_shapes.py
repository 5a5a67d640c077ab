"""The shape and default of each key of a service's entry in daemon.json, in the order
daemon.json has them.

Kept apart from the ServiceSnapshot dataclass (services/snapshot.py, whose fields are these
keys with these defaults, checked at its import) so that reading daemon.json, as cron's
hand-off to the daemon and `vrmonitor status` do, does not import dataclasses.
"""

from vrmonitor.system import state_file as sf

PID_MAX = 4194304  # the kernel's PID_MAX_LIMIT

SHAPES: dict = {  # key -> shape (system/state_file.py)
    "processname": sf.text,
    "servicename": sf.nullable(sf.text),
    "state": sf.text,
    "since": sf.number(),
    "reason": sf.text,
    "pid": sf.nullable(sf.integer(1, PID_MAX)),
    "recovering": sf.flag,
    "parked": sf.flag,
    "blocked": sf.nullable(sf.text),
    "crash_loop": sf.flag,
    "restarts_last_hour": sf.integer(),
    "restarted_at": sf.nullable(sf.number()),
    "last_action": sf.text,
    "last_outcome": sf.text,
    "restart_monotonic": sf.list_of(sf.number()),
    "failed_attempts": sf.integer(),
    "down_alerted": sf.flag,
    "seen_up": sf.flag,
    "on_trial_monotonic": sf.nullable(sf.number()),
    "seen_pid": sf.nullable(sf.integer(1, PID_MAX)),
    "seen_start_ticks": sf.nullable(sf.integer()),
    "restarts_total": sf.integer(),
    "restart_failures_total": sf.integer(),
}

# The value of a key an older daemon did not write.
DEFAULTS = {
    "processname": "", "servicename": None, "state": "unknown", "since": None, "reason": "",
    "pid": None, "recovering": False, "parked": False, "blocked": None, "crash_loop": False,
    "restarts_last_hour": 0, "restarted_at": None, "last_action": "", "last_outcome": "",
    "restart_monotonic": (), "failed_attempts": 0, "down_alerted": False, "seen_up": False,
    "on_trial_monotonic": None, "seen_pid": None, "seen_start_ticks": None, "restarts_total": 0,
    "restart_failures_total": 0,
}
