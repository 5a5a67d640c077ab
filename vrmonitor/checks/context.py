"""What every built-in check needs: its kind, its inputs, and the contract's way to answer.

A check runs as `<name> basic|advanced` with cwd /root. It acts only for its own kind; for the
other kind (or no argument) it prints nothing and exits 0, which the runner reads as "not
applicable". It answers with one message on stdout and exit 0 (pass) or 1 (fail): answer(),
from checks/answer.py, which a check that needs none of this imports alone.
"""

import ipaddress
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from vrmonitor.checks.answer import answer
from vrmonitor.cloudstack.health_data import config_records
from vrmonitor.errors import CheckError, ConfigError
from vrmonitor.paths import Paths

def applies(argv: list[str], kind: str) -> bool:
    """Whether this run (`argv` as the script got it) is for the check's kind."""
    return len(argv) >= 1 and argv[0] == kind


@dataclass(frozen=True)
class CheckInputs:
    paths: Paths

    def records(self, key: str) -> list[dict[str, str]] | None:
        """The record strings of health_checks_data.json under `key` (contract 3.2).

        None when the file or the key is absent. An invalid file raises ConfigError naming the
        file and the problem: catch it and `return unreadable(exc.problems)`, since a check's
        message is its stdout (stderr is not reported to the management server).
        """
        return config_records(self.paths.health_checks_data, key)


def unreadable(problems: list[str]) -> int:
    """Fail with the problems of an input file: the message is what the operator gets."""
    return answer("; ".join(problems), ok=False)


def system_threshold(inputs: CheckInputs, key: str) -> float | None:
    """The number under `key` in the first systemThresholds record; None when absent.

    Raises ConfigError when health_checks_data.json is unreadable or the value is not a number
    (the message names the key and the value found).
    """
    records = inputs.records("systemThresholds")
    if not records or key not in records[0]:
        return None
    value = records[0][key]
    try:
        number = float(value)
    except ValueError:
        number = math.nan
    if math.isnan(number):
        raise ConfigError("systemThresholds", [
            f"Invalid {key} in health_checks_data systemThresholds: expected a number, "
            f"found {value!r}"])
    return number


def same_ip(one: str, other: str) -> bool:
    """Whether two address strings name the same IP (text compare when either is no IP)."""
    try:
        return ipaddress.ip_address(one) == ipaddress.ip_address(other)
    except ValueError:
        return one == other


def read_lines(path: Path, vm_path: str, failure: str = "") -> list[str] | None:
    """The lines of a contract file, None when it does not exist.

    Raises CheckError (`<failure>: <reason>`, by default `Unable to read <vm_path>: <reason>`)
    when it exists but cannot be read."""
    try:
        return path.read_text(encoding="utf-8", errors="replace").splitlines()
    except FileNotFoundError:
        return None
    except OSError as exc:
        reason = exc.strerror or str(exc)
        raise CheckError(f"{failure or f'Unable to read {vm_path}'}: {reason}") from exc


def on_records(argv: list[str], root: str, kind: str, key: str, skip: str,
               judge: Callable[[Paths, list[dict[str, str]]], tuple[str, bool]]) -> int:
    """The body of a check of the records under `key`: none is a pass saying `skip`.

    judge(paths, records) -> (message, ok) raises ConfigError for invalid records (the message
    lists the problems) and CheckError for a file or command it cannot read (the message is
    the error's)."""
    if not applies(argv, kind):
        return 0
    paths = Paths.from_option(root)
    try:
        records = CheckInputs(paths).records(key)
        if not records:
            return answer(skip, ok=True)
        return answer(*judge(paths, records))
    except ConfigError as exc:
        return unreadable(exc.problems)
    except CheckError as exc:
        return answer(str(exc), ok=False)


def against_threshold(argv: list[str], root: str, kind: str, key: str,
                      measure: Callable[[Paths], float],
                      judge: Callable[[float, float], tuple[str, bool]]) -> int:
    """The body of a check of a measure against systemThresholds' `key`: no threshold is a pass
    that says it skipped. measure(paths) raises CheckError when it cannot measure."""
    if not applies(argv, kind):
        return 0
    paths = Paths.from_option(root)
    try:
        threshold = system_threshold(CheckInputs(paths), key)
    except ConfigError as exc:
        return unreadable(exc.problems)
    if threshold is None:
        return answer(f"Missing {key} in health_checks_data systemThresholds, skipping", ok=True)
    try:
        value = measure(paths)
    except CheckError as exc:
        return answer(str(exc), ok=False)
    return answer(*judge(threshold, value))
