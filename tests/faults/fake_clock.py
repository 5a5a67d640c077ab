"""A wall clock the test steps, for the daemon and everything it starts (libfaketime).

The offset is read from a file on every call, so a step reaches running processes. The
monotonic clock is left alone, as a real step leaves it. File times are the kernel's and do
not move: a file written under the fake clock keeps the real time.
"""

import os
from pathlib import Path

import pytest

LIBFAKETIME = Path("/usr/lib/x86_64-linux-gnu/faketime/libfaketime.so.1")


def require_libfaketime() -> None:
    if not LIBFAKETIME.exists():
        pytest.fail(f"{LIBFAKETIME} is missing: apt-get install libfaketime", pytrace=False)


class FakeClock:
    """The router's wall clock offset, read by libfaketime from a file on every call."""

    def __init__(self, folder: Path):
        self.file = folder / "faketime-offset"
        self.step("+0")

    def step(self, offset: str) -> None:
        temp = self.file.with_name(self.file.name + ".new")
        temp.write_text(offset + "\n")
        os.replace(temp, self.file)  # libfaketime never reads half an offset

    def env(self) -> tuple[str, ...]:
        """An `env` prefix that runs a command on this clock."""
        return ("env", f"LD_PRELOAD={LIBFAKETIME}", f"FAKETIME_TIMESTAMP_FILE={self.file}",
                "FAKETIME_NO_CACHE=1", "FAKETIME_DONT_FAKE_MONOTONIC=1")
