"""One service's entry in the monitor's snapshot: daemon.json's "services" values.

The one place its keys are spelled. The monitor writes it (to_dict), `vrmonitor status`, the
Prometheus export and the next daemon of the same boot read it (from_dict), and saved_state
checks a file's entries against the shapes kept here beside each field. The dict's keys come in
the order daemon.json has always had them: other programs and tests read that file.
"""

from dataclasses import dataclass, field, fields

from vrmonitor.system import state_file as sf

PID_MAX = 4194304  # the kernel's PID_MAX_LIMIT
SHAPE = "shape"  # the field's metadata key: how a state file's value is checked


def _of(shape, default=None, **extra):
    return field(default=default, metadata={SHAPE: shape}, **extra)


@dataclass(frozen=True)
class ServiceSnapshot:
    processname: str = _of(sf.text, "")
    servicename: str | None = _of(sf.nullable(sf.text))  # None: monitor.conf named no service
    state: str = _of(sf.text, "unknown")  # up | down | degraded | unknown (not judged yet)
    since: float | None = _of(sf.number())  # wall time of the last state change
    reason: str = _of(sf.text, "")
    pid: int | None = _of(sf.nullable(sf.integer(1, PID_MAX)))
    recovering: bool = _of(sf.flag, False)
    parked: bool = _of(sf.flag, False)
    blocked: str | None = _of(sf.nullable(sf.text))
    crash_loop: bool = _of(sf.flag, False)
    restarts_last_hour: int = _of(sf.integer(), 0)
    restarted_at: float | None = _of(sf.nullable(sf.number()))  # wall time
    last_action: str = _of(sf.text, "")
    last_outcome: str = _of(sf.text, "")
    # What a restarted daemon of the same boot needs to carry on (services/carry_over.py).
    restart_monotonic: tuple[float, ...] = _of(sf.list_of(sf.number()), ())
    failed_attempts: int = _of(sf.integer(), 0)
    down_alerted: bool = _of(sf.flag, False)
    seen_up: bool = _of(sf.flag, False)
    on_trial_monotonic: float | None = _of(sf.nullable(sf.number()))
    seen_pid: int | None = _of(sf.nullable(sf.integer(1, PID_MAX)))
    seen_start_ticks: int | None = _of(sf.nullable(sf.integer()))
    # Counters for the Prometheus export, carried on by the next daemon of the same boot: every
    # restart seen (by vrmonitor, or the init system's own found at an exit) and every failed
    # attempt (failed, blocked, never came up, died on trial).
    restarts_total: int = _of(sf.integer(), 0)
    restart_failures_total: int = _of(sf.integer(), 0)

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
        return {f.name: f.metadata[SHAPE] for f in fields(cls)}
