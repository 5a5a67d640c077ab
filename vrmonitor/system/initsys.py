"""Init systems: restart a service and ask about it, through systemd or SysV init scripts.

The commands (`service`, `systemctl`) are found on PATH, then in the sbin directories that a
cron or minimal PATH leaves out. They are commands vrmonitor runs, never relocated under
--root. Every command goes through `runner`, called as
`runner(argv, timeout=..., cap=..., kill_leftovers=...)` and returning a `Completed`.
Which init system is in charge is decided once, by the caller, with `detect_init_system()`.
"""

import logging
import os
import shutil
from dataclasses import dataclass
from typing import Protocol

from vrmonitor.errors import CommandError
from vrmonitor.system.process import Completed, run

LOG = logging.getLogger(__name__)

# Searched after PATH: vrmonitor may run from cron or a unit with a PATH lacking sbin.
FALLBACK_DIRS = ("/usr/local/sbin", "/usr/sbin", "/sbin", "/usr/local/bin", "/usr/bin", "/bin")
DETAIL_LIMIT = 2000
OUTPUT_CAP = 65536
SHOW_TIMEOUT = 10.0
SHOW_PROPERTIES = ("ActiveState", "SubState", "Result", "Restart", "LoadState",
                   "InactiveExitTimestampMonotonic")


# What the init system says about a service that vrmonitor found down (assess()).
RESTART = "restart"  # nothing under way: restart it
RESET_AND_RESTART = "reset"  # the unit hit its start limit: reset-failed first
RECOVERING = "recovering"  # systemd is starting it itself (Restart=, a job): wait
STOPPED = "stopped"  # stopped on purpose (systemctl stop): leave it
UNKNOWN = "unknown"  # no such service


@dataclass(frozen=True)
class Assessment:
    verdict: str  # one of the five above
    detail: str  # the unit's state, for messages


@dataclass(frozen=True)
class ActionResult:
    ok: bool
    # The tool's output (stdout + stderr), stripped, at most ~2000 chars; or why it failed.
    detail: str


class InitSystem(Protocol):
    name: str  # "systemd" or "sysv"

    def restart(self, service: str, timeout: float = 60.0) -> ActionResult: ...

    def reset_failed(self, service: str) -> None: ...

    def assess(self, service: str) -> Assessment: ...

    def knows(self, service: str) -> bool: ...

    def learn(self, service: str) -> None: ...

    def restarts_itself(self, service: str) -> bool: ...


def find_command(name: str) -> str | None:
    """Full path of command `name`: PATH first, then the usual sbin and bin directories."""
    if os.sep in name:
        return name if os.access(name, os.X_OK) and os.path.isfile(name) else None
    search = os.pathsep.join(filter(None, [os.environ.get("PATH", ""), *FALLBACK_DIRS]))
    return shutil.which(name, path=search)


def output_text(completed: Completed, limit: int = DETAIL_LIMIT) -> str:
    """stdout then stderr, decoded and stripped; the last `limit` characters when longer."""
    parts = [stream.decode("utf-8", "replace").strip()
             for stream in (completed.stdout, completed.stderr)]
    text = "\n".join(part for part in parts if part)
    if len(text) > limit:
        text = "..." + text[-(limit - 3):]
    return text


def describe_failure(completed: Completed, command: str, timeout: float) -> str:
    """Why `completed` failed, the tool's own words first."""
    text = output_text(completed)
    if completed.timed_out:
        reason = f"{command} timed out after {timeout:g} s"
    elif completed.returncode < 0:
        reason = f"{command} was killed by signal {-completed.returncode}"
    else:
        reason = f"{command} exited with status {completed.returncode}"
    return f"{text}\n({reason})" if text else reason


def _valid_name(service: str) -> bool:
    """A plain unit or script name: no path, no option, no control characters."""
    return (bool(service) and "/" not in service and not service.startswith(("-", "."))
            and service.isprintable() and not any(c.isspace() for c in service))


def _invoke(runner, argv: list[str], timeout: float, kill_leftovers: bool) -> Completed | str:
    """Run argv[0] found by find_command; the Completed, or a message when it cannot start."""
    path = find_command(argv[0])
    if path is None:
        return f"cannot run {argv[0]}: not found on PATH"
    try:
        return runner([path, *argv[1:]], timeout=timeout, cap=OUTPUT_CAP,
                      kill_leftovers=kill_leftovers)
    except CommandError as exc:
        return str(exc)


class SysV:
    """Services run by /etc/init.d scripts, driven with `service NAME restart`."""

    name = "sysv"

    def __init__(self, runner=run, init_dir: str = "/etc/init.d"):
        self._runner = runner
        self._init_dir = init_dir

    def _script(self, service: str) -> str:
        return os.path.join(self._init_dir, service)

    def restart(self, service: str, timeout: float = 60.0) -> ActionResult:
        if not _valid_name(service):
            return ActionResult(False, f"invalid service name {service!r}")
        script = self._script(service)
        if not os.path.isfile(script):
            return ActionResult(False, f"no init script {script}")
        # The script's daemons are left running: kill_leftovers=False.
        completed = _invoke(self._runner, ["service", service, "restart"], timeout, False)
        if isinstance(completed, str):
            return ActionResult(False, completed)
        if completed.ok:
            LOG.debug("service %s restart took %.2f s", service, completed.duration)
            return ActionResult(True, output_text(completed))
        return ActionResult(False, describe_failure(completed, f"service {service} restart",
                                                    timeout))

    def reset_failed(self, service: str) -> None:
        """SysV keeps no failed state."""

    def assess(self, service: str) -> Assessment:
        if not self.knows(service):
            return Assessment(UNKNOWN, f"sysv has no service {service!r}")
        return Assessment(RESTART, "")

    def knows(self, service: str) -> bool:
        return _valid_name(service) and os.path.isfile(self._script(service))

    def learn(self, service: str) -> None:
        """SysV has no restart policy to learn."""

    def restarts_itself(self, service: str) -> bool:
        return False


class Systemd:
    """Services run by systemd, driven with `systemctl`."""

    name = "systemd"

    def __init__(self, runner=run):
        self._runner = runner
        # Each unit's Restart= as systemd last told it (show()); read by recovery threads.
        self._restart_policy: dict[str, str] = {}

    def restart(self, service: str, timeout: float = 60.0) -> ActionResult:
        if not _valid_name(service):
            return ActionResult(False, f"invalid service name {service!r}")
        completed = _invoke(self._runner, ["systemctl", "restart", service], timeout, True)
        if isinstance(completed, str):
            return ActionResult(False, completed)
        if completed.ok:
            return ActionResult(True, output_text(completed))
        return ActionResult(False, describe_failure(completed, f"systemctl restart {service}",
                                                    timeout))

    def show(self, service: str) -> dict[str, str] | None:
        """SHOW_PROPERTIES of the unit; None if unknown.

        None when systemctl cannot be asked (logged as a warning), not when the unit is
        missing: systemd reports that as LoadState=not-found.
        """
        if not _valid_name(service):
            return None
        argv = ["systemctl", "show", service, "--property=" + ",".join(SHOW_PROPERTIES)]
        completed = _invoke(self._runner, argv, SHOW_TIMEOUT, True)
        if isinstance(completed, str):
            LOG.warning("%s", completed)
            return None
        if not completed.ok:
            LOG.warning("%s", describe_failure(completed, " ".join(argv), SHOW_TIMEOUT))
            return None
        properties = {}
        for line in completed.stdout.decode("utf-8", "replace").splitlines():
            key, sep, value = line.partition("=")
            if sep:
                properties[key.strip()] = value.strip()
        self._restart_policy[service] = properties.get("Restart", "")
        return properties

    def learn(self, service: str) -> None:
        """Ask for the unit's restart policy once, while the service runs (so that a crash
        later needs no question to systemd while systemd itself restarts the unit)."""
        if service not in self._restart_policy:
            self.show(service)

    def restarts_itself(self, service: str) -> bool:
        """Whether the unit's Restart= (as last learnt) may bring its service back itself.

        Any policy but `no` counts: how the process died is not known here, and a unit that
        does not restart after all is asked about once the recovery stops waiting for it."""
        return self._restart_policy.get(service, "no") not in ("", "no")

    def reset_failed(self, service: str) -> None:
        """`systemctl reset-failed`: a failed unit (start-limit-hit included) may start again."""
        if not _valid_name(service):
            return
        completed = _invoke(self._runner, ["systemctl", "reset-failed", service], SHOW_TIMEOUT, True)
        if isinstance(completed, str):
            LOG.warning("%s", completed)
        elif not completed.ok:
            LOG.warning("%s", describe_failure(completed, f"systemctl reset-failed {service}",
                                               SHOW_TIMEOUT))

    def assess(self, service: str) -> Assessment:
        """What to do about a unit whose process vrmonitor found down.

        - activating, deactivating, reloading (a job, or SubState=auto-restart under the
          unit's own Restart=): systemd is on it, vrmonitor waits and looks again;
        - inactive with Result=success after it ran: the unit was stopped cleanly, which is
          what `systemctl stop` leaves: on purpose, left alone (a unit never started since
          boot, InactiveExitTimestampMonotonic=0, is started: monitor.conf wants it running);
        - failed with start-limit-hit: reset-failed, then restart (a unit failed otherwise
          restarts without it: one systemctl call less on the way back);
        - anything else (active although its main process is gone, inactive after a
          failure): restart.
        When systemctl cannot answer, restart: its own error is then reported."""
        state = self.show(service)
        if state is None:
            return Assessment(RESTART, "systemctl show did not answer")
        active, sub, result = (state.get(key, "") for key in ("ActiveState", "SubState", "Result"))
        detail = f"{active}/{sub}, result {result}" if result else f"{active}/{sub}"
        if state.get("LoadState") == "not-found":
            return Assessment(UNKNOWN, f"systemd has no unit {service!r}")
        if active in ("activating", "deactivating", "reloading") or sub == "auto-restart":
            return Assessment(RECOVERING, detail)
        if active == "failed" and result == "start-limit-hit":
            return Assessment(RESET_AND_RESTART, detail)
        if active == "inactive" and result == "success" and state.get(
                "InactiveExitTimestampMonotonic", "0") not in ("", "0"):
            return Assessment(STOPPED, detail)
        return Assessment(RESTART, detail)

    def knows(self, service: str) -> bool:
        """False only when systemd says LoadState=not-found (or the name is not a unit name).

        When systemctl cannot be asked the answer is True, so that a restart is still tried
        and its own error is reported.
        """
        if not _valid_name(service):
            return False
        state = self.show(service)
        return state is None or state.get("LoadState") != "not-found"


def detect_init_system(proc_root: str = "/", runner=run) -> InitSystem:
    """Systemd when `<proc_root>/run/systemd/system` is a directory (as sd_booted()), else SysV."""
    if os.path.isdir(os.path.join(proc_root, "run/systemd/system")):
        return Systemd(runner)
    return SysV(runner)
