"""The shape of each key of a service's entry in daemon.json, in the order daemon.json has them.

Kept apart from the ServiceSnapshot dataclass (services/snapshot.py, whose fields are these
keys, checked at its import) so that reading daemon.json, as cron's hand-off to the daemon and
`vrmonitor status` do, does not import dataclasses.
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
