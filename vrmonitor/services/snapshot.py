"""One service's entry in the monitor's snapshot: daemon.json's "services" values.

The one place its keys are spelled. The monitor writes it (to_dict), `vrmonitor status`, the
Prometheus export and the next daemon of the same boot read it (from_dict), and saved_state
checks a file's entries against the shapes in snapshot_shapes.py, one for each field here, in
the same order (checked below). The dict's keys come in the order daemon.json has always had
them: other programs and tests read that file.
"""

from dataclasses import dataclass, fields

from vrmonitor.services.snapshot_shapes import DEFAULTS, PID_MAX, SHAPES

__all__ = ["PID_MAX", "ServiceSnapshot"]


@dataclass(frozen=True)
class ServiceSnapshot:
    processname: str = ""
    servicename: str | None = None  # None: monitor.conf named no service
    state: str = "unknown"  # up | down | degraded | unknown (not judged yet)
    since: float | None = None  # wall time of the last state change
    reason: str = ""
    pid: int | None = None
    recovering: bool = False
    parked: bool = False
    blocked: str | None = None
    crash_loop: bool = False
    restarts_last_hour: int = 0
    restarted_at: float | None = None  # wall time
    last_action: str = ""
    last_outcome: str = ""
    # What a restarted daemon of the same boot needs to carry on (services/carry_over.py).
    restart_monotonic: tuple[float, ...] = ()
    failed_attempts: int = 0
    down_alerted: bool = False
    seen_up: bool = False
    on_trial_monotonic: float | None = None
    seen_pid: int | None = None
    seen_start_ticks: int | None = None
    # Counters for the Prometheus export, carried on by the next daemon of the same boot: every
    # restart seen (by vrmonitor, or the init system's own found at an exit) and every failed
    # attempt (failed, blocked, never came up, died on trial).
    restarts_total: int = 0
    restart_failures_total: int = 0

    def to_dict(self) -> dict:
        """daemon.json's form: every key, in its order; the restart times as a list."""
        shown = {f.name: getattr(self, f.name) for f in fields(self)}
        shown["restart_monotonic"] = list(self.restart_monotonic)
        return shown

    @classmethod
    def from_dict(cls, saved: dict) -> "ServiceSnapshot":
        """From a dict already checked against shapes() (or written by to_dict). A key an
        older daemon did not write takes its default; keys unknown here are passed over."""
        known = {f.name for f in fields(cls)}
        values = {key: value for key, value in saved.items() if key in known}
        if "restart_monotonic" in values:
            values["restart_monotonic"] = tuple(values["restart_monotonic"])
        return cls(**values)

    @classmethod
    def shapes(cls) -> dict:
        """key -> shape, for system.state_file.record()."""
        return dict(SHAPES)


# snapshot_shapes.py: one shape and the same default for each field, in order.
if ([(f.name, f.default) for f in fields(ServiceSnapshot)] != list(DEFAULTS.items())
        or list(SHAPES) != list(DEFAULTS)):
    raise ImportError("services/snapshot_shapes.py does not list ServiceSnapshot's fields in order")
