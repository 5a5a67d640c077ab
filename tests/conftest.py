"""What every test folder shares: the root requirement."""

import os

import pytest


def require_root(what: str, why: str = "namespaces, mounts, sockets or real daemons") -> None:
    """Fails (never skips) when not root: CI runs every test as root, and a skip would let a
    run without root pass having tested nothing."""
    if os.geteuid() != 0:
        pytest.fail(f"{what} needs root ({why}); CI runs it as root", pytrace=False)


@pytest.fixture(scope="session")
def needs_root() -> None:
    """require_root() for fixtures and tests that only need to be root."""
    require_root("this test")
