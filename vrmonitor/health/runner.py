"""Run health checks: in parallel, each with a timeout and an output cap (contract 3.3).

Each check runs as `[path, kind]` (no shell) from the VM's `/root`, through the one subprocess
wrapper, which kills the check's whole process group at the timeout and whatever it left
running when it exits. The reference ran the checks one after the other with no timeout and
read their output only after they exited, so a hanging or chatty check blocked the whole run.

How an outcome becomes a status ("cloudstack" dialect, the contract):

* exit 0 with output: "pass"; exit 0 without output (after stripping): "skip", i.e. no entry;
* any other exit status: "fail" with the output as message. The reference gave an empty message
  when there was no output; vrmonitor says "exited with status N" instead, so the operator
  reading the management server's list sees something. The management server does not parse
  the message.

"nagios" dialect (per check, from the settings): 0 pass, 1 warning, 2 fail, 3 and anything else
unknown; exit 0 without output is still "skip".

In both dialects a check that timed out, was killed by a signal or could not be started at all
(missing interpreter, no `#!` line, ...) is "fail" with a message saying so, and a check the
trust policy refused is "fail" with the refusal as message, without being run. stderr is never
part of the message (the reference did not capture it); it is logged at debug level.
"""

import codecs
import errno
import logging
import signal
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vrmonitor.errors import CommandError
from vrmonitor.health.discovery import Check
from vrmonitor.system.process import Completed, run

LOG = logging.getLogger(__name__)

PASS, FAIL, WARNING, UNKNOWN, SKIP = "pass", "fail", "warning", "unknown", "skip"
STATUSES = (PASS, FAIL, WARNING, UNKNOWN, SKIP)

CLOUDSTACK, NAGIOS = "cloudstack", "nagios"
_NAGIOS = {0: PASS, 1: WARNING, 2: FAIL, 3: UNKNOWN}


@dataclass(frozen=True)
class CheckResult:
    """What one run of one check gave.

    status: "pass", "fail", "warning", "unknown" or "skip" (exit 0 without output: the check
      has nothing to say for this kind of run and gets no entry in the results).
    message: the check's stdout, decoded as UTF-8 (invalid bytes replaced) and stripped, with a
      marker when it was cut at the cap; for a timeout, a crash, a start failure or a refusal,
      a message saying so.
    started: wall time (time.time()) when the check started, for `lastUpdate`.
    duration_ms: how long it ran, in milliseconds (monotonic clock).
    exit_code: the exit status; negative when killed by that signal (including the SIGKILL of a
      timeout); None when the check was never started (refused, or could not be started).
    """

    name: str
    status: str
    message: str
    started: float
    duration_ms: float
    exit_code: int | None


def run_checks(checks: list[Check], kind: str, *, cwd: Path, timeout_for: Callable[[str], float],
               dialect_for: Callable[[str], str], output_cap: int,
               max_parallel: int, cancel: threading.Event | None = None) -> list[CheckResult]:
    """Run every check that is not refused with argument `kind`; one result per check, in order.

    At most `max_parallel` checks run at once. timeout_for(name) and dialect_for(name) give the
    per-check settings; output_cap is the number of bytes kept of stdout and of stderr each.
    A check that misbehaves in any way gives a "fail" result; it never affects the others and
    nothing is raised for it. Setting `cancel` kills the checks still running (daemon stopping).
    """
    run_started = time.time()
    runnable = [check for check in checks if not check.refused]
    if not runnable:
        # Every check is refused here; `or ""` only tells mypy that the reason is a str.
        return [CheckResult(c.name, FAIL, c.refused or "", run_started, 0.0, None) for c in checks]
    workers = max(1, min(max_parallel, len(runnable)))
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="health-check") as pool:
        futures = [None if check.refused else
                   pool.submit(_run_guarded, check, kind, cwd, timeout_for, dialect_for, output_cap,
                               cancel)
                   for check in checks]
        results = [CheckResult(check.name, FAIL, check.refused or "", run_started, 0.0, None)
                   if future is None else future.result()
                   for check, future in zip(checks, futures)]
    return results


def _run_guarded(check: Check, kind: str, cwd: Path, timeout_for: Callable[[str], float],
                 dialect_for: Callable[[str], str], output_cap: int,
                 cancel: threading.Event | None) -> CheckResult:
    """The per-check boundary: whatever goes wrong becomes this check's "fail" result."""
    started, clock = time.time(), time.monotonic()
    try:
        return _run_one(check, kind, cwd, timeout_for(check.name), dialect_for(check.name),
                        output_cap, started, cancel)
    except Exception as exc:  # noqa: BLE001 - one check's failure must not stop the others
        LOG.exception("health check %s: internal error", check.name)
        return CheckResult(check.name, FAIL, f"internal error running the check: {exc}", started,
                           (time.monotonic() - clock) * 1000.0, None)


def _run_one(check: Check, kind: str, cwd: Path, timeout: float, dialect: str, output_cap: int,
             started: float, cancel: threading.Event | None = None) -> CheckResult:
    clock = time.monotonic()
    if cancel is not None and cancel.is_set():
        return CheckResult(check.name, FAIL, "not run: vrmonitor is stopping", started, 0.0, None)
    try:
        completed = run([str(check.path), kind], timeout=timeout, cap=output_cap, cwd=cwd,
                        cancel=cancel)
    except CommandError as exc:
        message = _start_failure(check, cwd, exc)
        LOG.warning("health check %s %s", check.name, message)
        return CheckResult(check.name, FAIL, message, started,
                           (time.monotonic() - clock) * 1000.0, None)
    if completed.stderr:
        LOG.debug("health check %s stderr: %s", check.name,
                  completed.stderr.decode("utf-8", errors="replace").rstrip())
    if completed.timed_out:
        LOG.warning("health check %s timed out after %g s and was killed", check.name, timeout)
    if completed.escaped:
        LOG.warning("health check %s left running, in a session of its own (not killed: it may be "
                    "a service it restarted): %s", check.name, ", ".join(completed.escaped))
    status, message = _judge(completed, timeout, dialect, output_cap)
    LOG.debug("health check %s: %s in %.1f ms (exit %s)", check.name, status,
              completed.duration * 1000.0, completed.returncode)
    return CheckResult(check.name, status, message, started, completed.duration * 1000.0,
                       completed.returncode)


def _judge(completed: Completed, timeout: float, dialect: str, output_cap: int) -> tuple[str, str]:
    """(status, message) for a check that ran."""
    output = _decode(completed.stdout, completed.stdout_truncated)
    if completed.stdout_truncated:
        output = f"{output} [output truncated at {output_cap} bytes]".lstrip()
    said = f"{output} " if output else ""
    code = completed.returncode
    if completed.cancelled:
        return FAIL, f"{said}stopped: vrmonitor was shutting down"
    if completed.timed_out:
        return FAIL, f"{said}timed out after {timeout:g} s and was killed"
    if code < 0:
        return FAIL, f"{said}killed by signal {-code} ({_signal_name(-code)})"
    if code == 0:
        return (PASS, output) if output else (SKIP, "")
    status = _NAGIOS.get(code, UNKNOWN) if dialect == NAGIOS else FAIL
    return status, output or f"exited with status {code}"


def _decode(data: bytes, truncated: bool) -> str:
    """UTF-8 text of `data`, stripped; a character cut in two by the cap is dropped, not replaced."""
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    return decoder.decode(data, final=not truncated).strip()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"SIG{number}"


def _start_failure(check: Check, cwd: Path, exc: CommandError) -> str:
    """The message for a check that could not be started, from the OS error."""
    cause = exc.__cause__
    if isinstance(cause, OSError):
        reason = cause.strerror or str(cause)
        if cause.filename is not None and Path(cause.filename) == Path(cwd):
            reason = f"cannot enter its working folder: {reason}"
        elif cause.errno == errno.ENOENT and check.path.exists():
            reason += " (the interpreter on its #! line?)"
        elif cause.errno == errno.ENOEXEC:
            reason += " (no #! line?)"
    else:
        reason = str(exc)
    return f"could not be started: {reason}"
