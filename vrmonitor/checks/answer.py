"""The contract's way for a check to answer: one message on stdout, exit 0 (pass) or 1 (fail)."""

import sys

PASS, FAIL = 0, 1


def answer(message: str, ok: bool) -> int:
    """Print the check's message and return its exit code."""
    sys.stdout.write(message.rstrip("\n") + "\n")
    return PASS if ok else FAIL
