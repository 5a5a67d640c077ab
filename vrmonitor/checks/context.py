"""What every built-in check needs: its kind, its inputs, and the contract's way to answer.

A check runs as `<name> basic|advanced` with cwd /root. It acts only for its own kind; for the
other kind (or no argument) it prints nothing and exits 0, which the runner reads as "not
applicable". It answers with one message on stdout and exit 0 (pass) or 1 (fail).
"""

import sys
from dataclasses import dataclass

from vrmonitor.cloudstack.health_data import load_health_data
from vrmonitor.paths import Paths

PASS, FAIL = 0, 1


def applies(argv: list[str], kind: str) -> bool:
    """Whether this run (`argv` as the script got it) is for the check's kind."""
    return len(argv) >= 1 and argv[0] == kind


def answer(message: str, ok: bool) -> int:
    """Print the check's message and return its exit code."""
    sys.stdout.write(message.rstrip("\n") + "\n")
    return PASS if ok else FAIL


@dataclass(frozen=True)
class CheckInputs:
    paths: Paths

    def records(self, key: str) -> list[dict[str, str]] | None:
        """The record strings of health_checks_data.json under `key` (contract 3.2).

        None when the file or the key is absent. An invalid file raises ConfigError naming the
        file and the problem: catch it and `return unreadable(exc.problems)`, since a check's
        message is its stdout (stderr is not reported to the management server).
        """
        data = load_health_data(self.paths.health_checks_data)
        return None if data is None else data.records(key)


def unreadable(problems: list[str]) -> int:
    """Fail with the problems of an input file: the message is what the operator gets."""
    return answer("; ".join(problems), ok=False)
