"""How many examples each fuzzer draws in the selected profile (tests/fuzz/conftest.py).

Targets that start a process per example get a budget of their own, well below the
in-process parsers' profile default.
"""

import os

PROFILE_ENV = "VRMONITOR_FUZZ_PROFILE"
PROFILE = os.environ.get(PROFILE_ENV, "ci")


def examples(ci: int, long: int) -> int:
    """The example count for this profile."""
    return long if PROFILE == "long" else ci
