"""/opt/cloud/bin/diagnostics.py TYPE ADDRESS [PARAMS...]: runDiagnostics (contract 4.2).

stdout is always the three-part envelope the management server splits on `&&`, and the script
always exits 0:

    <tool stdout, stripped>&&
    <tool stderr, stripped>&&
    <exit code>

What is run: `vrmonitor diag <tool> ADDRESS PARAMS... [-c 4 | -m 20]` in a child process (the
reference's defaults, added unless an argument is exactly `-c` / `-m`), killed with its whole
process group after [diagnostics] deadline seconds (default 55, under the MS's 60 s).

Decisions, where the reference is silent or unsafe:
- Validation comes first and nothing runs when it fails (vrmonitor.diagnostics.validate): an
  unknown TYPE, a bad address, a parameter with other characters than the MS allows or an
  option the tool does not document gives an empty stdout, `diagnostics.py: <reason>` as
  stderr and exit code 2 in the envelope. The reference printed nothing for an unknown TYPE,
  which the MS reports as exit code -1 with no word of why; the MS already refuses unknown
  types, so one reaching the VM is a version mismatch worth naming. Then the tool's own
  parse() reads the final arguments; what it refuses is reported with its own text and exit
  status (2 unless the error carries one, as the three tools' errors do); again nothing runs.
- A tool whose module cannot be loaded (or whose child cannot be started): stdout
  `Check your command type`, stderr `Exception occurred: <error>`, code 1, as the reference did
  when the binary was missing.
- The deadline: stdout and stderr printed so far, then `diagnostics.py: <tool> did not finish
  within <N> s and was stopped` on stderr, exit code 124 (timeout(1)'s). A tool killed by a
  signal reports 128 + the signal number.
- `&&` never appears inside a part: every `&&` becomes `& &`, and a part ending in `&` gets a
  trailing space (the MS trims it), so the MS always splits into exactly three parts.
"""

import logging
import os
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

from vrmonitor.errors import CommandError, DiagnosticError
from vrmonitor.paths import Paths

NAME = "diagnostics.py"
LOG = logging.getLogger(__name__)
EXIT_REFUSED = 2
EXIT_NOT_STARTED = 1
EXIT_TIMEOUT = 124
OUTPUT_CAP = 1024 * 1024  # bytes of each stream kept; ping -c 4 prints a few hundred
SEPARATOR = "&&"
PACKAGE_PARENT = str(Path(__file__).resolve().parents[2])


@dataclass(frozen=True)
class Outcome:
    stdout: str
    stderr: str
    code: int


def main(argv: list[str], root: str) -> int:
    paths = Paths.from_option(root)
    sys.stdout.write(envelope(diagnose(argv, paths)))
    return 0


def diagnose(argv: list[str], paths: Paths) -> Outcome:
    """Validate, run the tool in a child with a deadline, and say what happened."""
    from vrmonitor.diagnostics import validate

    try:
        request = validate.request(argv)
    except DiagnosticError as exc:
        return Outcome("", f"{NAME}: {exc}", EXIT_REFUSED)
    try:
        request.tool.parse(request.argv)
    except DiagnosticError as exc:  # the tool's own error text and, if it says, exit status
        return Outcome("", str(exc), validate.exit_status(exc, EXIT_REFUSED))
    except Exception as exc:  # the tool's module is missing or broken: nothing can run
        return not_started(exc)
    deadline = settings_for(paths).deadline
    try:
        done = _run_child(request, paths, deadline)
    except CommandError as exc:
        return not_started(exc)
    stdout = done.stdout.decode("utf-8", "replace")
    stderr = done.stderr.decode("utf-8", "replace").strip()
    notes = []
    tool = request.tool.name
    if done.stdout_truncated or done.stderr_truncated:
        notes.append(f"{NAME}: the output of {tool} was cut at {OUTPUT_CAP} bytes")
    if done.timed_out:
        notes.append(f"{NAME}: {tool} did not finish within {deadline:g} s and was stopped")
        code = EXIT_TIMEOUT
    elif done.returncode < 0:
        notes.append(f"{NAME}: {tool} was killed by {_signal_name(-done.returncode)}")
        code = 128 - done.returncode
    else:
        code = done.returncode
    return Outcome(stdout, "\n".join(part for part in [stderr, *notes] if part), code)


def not_started(exc: BaseException) -> Outcome:
    text = str(exc) or type(exc).__name__
    return Outcome("Check your command type", f"Exception occurred: {text}", EXIT_NOT_STARTED)


def envelope(outcome: Outcome) -> str:
    """The three records the MS splits on `&&` (contract 4.2, 4.3)."""
    return (f"{_part(outcome.stdout)}{SEPARATOR}\n{_part(outcome.stderr)}{SEPARATOR}\n"
            f"{outcome.code}\n")


def _part(text: str) -> str:
    text = text.strip()
    while SEPARATOR in text:
        text = text.replace(SEPARATOR, "& &")
    # "x&" followed by the separator would read as "x" + "&&" + "&...": keep them apart.
    return text + " " if text.endswith("&") else text


def child_argv(request, paths: Paths) -> list[str]:
    """`python -P -m vrmonitor --root ROOT diag TOOL ARGS...` on this interpreter.

    -P keeps the working folder (/root over SSH) off sys.path, so nothing there can stand in
    for the package.
    """
    return [sys.executable, "-P", "-m", "vrmonitor", "--root", str(paths.root), "diag",
            request.tool.name, *request.argv]


def child_env() -> dict[str, str]:
    """This environment, with this very package first on the path (what PYTHONPATH held
    stays after it) and unbuffered output, so what a tool printed before the deadline killed
    it is still reported."""
    inherited = os.environ.get("PYTHONPATH")
    path = f"{PACKAGE_PARENT}{os.pathsep}{inherited}" if inherited else PACKAGE_PARENT
    return dict(os.environ, PYTHONPATH=path, PYTHONUNBUFFERED="1")


def _run_child(request, paths: Paths, deadline: float):
    from vrmonitor.system.process import run

    return run(child_argv(request, paths), timeout=deadline, cap=OUTPUT_CAP, cwd="/",
               env=child_env())


def settings_for(paths: Paths):
    """[diagnostics] of vrmonitor.toml; when the file is invalid, its problems are logged
    (stderr would reach what the MS parses) and the defaults apply."""
    from vrmonitor.config.settings import DiagnosticsSettings, load_settings
    from vrmonitor.errors import ConfigError

    try:
        return load_settings(paths.config_file).diagnostics
    except ConfigError as exc:
        for problem in exc.problems or [str(exc)]:
            LOG.warning("%s", problem)
        LOG.warning("using default settings")
        return DiagnosticsSettings()


def _signal_name(number: int) -> str:
    try:
        return signal.Signals(number).name
    except ValueError:
        return f"signal {number}"
