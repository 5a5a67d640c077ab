"""Fixtures of the system VM test bed: a booted Debian 12 guest laid out as a router.

`router` is module-scoped: one boot per test module (about 2 s with a cached rootfs), so that a
module's tests share a guest while a module that reboots the guest, kills its services or purges
the package cannot disturb another module. Tests that need a guest of their own (teardown, a
killed run) make one with `tests.systemvm.guest.Guest`.

The fixtures need root, like the rest of the integration suite: without it they fail with a
message rather than skip. The .deb must have been built first (./scripts/build-deb, which
./scripts/test runs before pytest).

Timings of every boot are printed in pytest's terminal summary.
"""

import subprocess
import time

import pytest

from tests.conftest import require_root
from tests.systemvm import layout, rootfs
from tests.systemvm.guest import GuestError

TIMINGS: list[str] = []


# Why the test bed needs root, for require_root.
ROOT_NEEDED = ("the system VM test bed", "network namespaces, cgroups, systemd-nspawn")


def host_listeners() -> set[str]:
    """Listening sockets in the host's network namespace, one `ss -ltnupH` line each."""
    done = subprocess.run(["ss", "-ltnupH"], capture_output=True, text=True, check=True)
    return {" ".join(line.split()) for line in done.stdout.splitlines() if line.strip()}


@pytest.fixture(scope="session")
def ms_key(tmp_path_factory):
    """The management server's key pair, fresh for each test run."""
    require_root(*ROOT_NEEDED)
    return layout.make_key(tmp_path_factory.mktemp("systemvm-ms"))


@pytest.fixture(scope="module")
def host_listeners_before():
    """The host's listeners before this module's guest boots (a baseline; other test runs on
    the machine add and remove their own meanwhile)."""
    return host_listeners()


@pytest.fixture(scope="module")
def router(ms_key, host_listeners_before):
    """A booted guest with the .deb installed and the router's layout, torn down afterwards."""
    require_root(*ROOT_NEEDED)
    started = time.monotonic()
    try:
        bed = layout.boot_router(ms_key, log=lambda line: TIMINGS.append(line))
    except (GuestError, rootfs.RootfsError) as error:
        pytest.fail(f"the system VM did not come up: {error}", pytrace=False)
    setup = time.monotonic() - started
    try:
        yield bed
    finally:
        problems = bed.guest.teardown()
        t = {**bed.guest.timings, **bed.timings}
        TIMINGS.append(
            f"systemvm: rootfs {t['rootfs']:.2f} s ({'built' if bed.guest.rootfs.built else 'cached'}), "
            f"boot {t['boot']:.2f} s, layout {t['layout']:.2f} s (dpkg -i and compat install "
            f"{t['install']:.2f} s), fixture {setup:.2f} s, teardown {t['teardown']:.2f} s; "
            f"postinst started vrmonitor: {'yes' if bed.postinst_started else 'no'}")
    assert not problems, f"teardown of the guest: {problems}"


def pytest_terminal_summary(terminalreporter):
    for line in TIMINGS:
        terminalreporter.write_line(line)
