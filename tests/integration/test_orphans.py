"""Orphans: apache2 workers outliving their master, and the kill that clears them."""

import os
import shutil
import signal
import subprocess
import time

import pytest

from vrmonitor.services.orphans import Owner, kill_orphans, owner_of
from vrmonitor.services.probes import probe
from vrmonitor.system.identity import ProcessIdentity, identify, pids_named
from vrmonitor.system.initsys import SysV

pytestmark = pytest.mark.root


def wait_dead(pid: int, within: float = 5.0) -> None:
    """Until `pid` is gone or a zombie (its reaper is not us)."""
    end = time.monotonic() + within
    while identify(pid) is not None:
        assert time.monotonic() < end, f"PID {pid} still alive after {within} s"
        time.sleep(0.02)


@pytest.mark.daemons
def test_apache_workers_outlive_their_master_until_killed(real_apache):
    master = real_apache.wait_running()
    workers = set(pids_named("apache2")) - {master}
    assert workers, "apache2 started no workers"

    owner = owner_of("apache2", "sysv", identify(master))  # as the daemon saw it up
    os.kill(master, signal.SIGKILL)
    wait_dead(master)
    orphans = set(pids_named("apache2"))
    # The master may fork one more worker between the look and the kill (CI saw it once).
    assert workers <= orphans, "the workers did not outlive their master"
    assert probe("http", 80).ok, "orphaned workers no longer serve HTTP"

    refused = SysV().restart("apache2")
    assert not refused.ok
    assert "do not match your pid file" in refused.detail

    killed = kill_orphans("apache2", owner=owner)
    assert set(killed) == orphans
    assert pids_named("apache2") == []

    result = SysV().restart("apache2")
    assert result.ok, result.detail
    assert real_apache.wait_running(other_than=master, within=5)
    real_apache.wait_listening(within=5)
    assert probe("http", 80).ok


# The decoys are this test process's children: its process group marks them as ours.
OURS = Owner(master=ProcessIdentity(os.getpgid(0), "pytest", "", 0.0, 0), uids=frozenset({os.geteuid()}))


@pytest.fixture
def decoy(tmp_path):
    """A private copy of sleep with a unique name, so only our processes match it."""
    name = f"vrmt{os.getpid() % 100000}orph"
    path = tmp_path / name
    shutil.copy("/bin/sleep", path)
    started = []

    def start(ignore_term: bool = False) -> subprocess.Popen:
        def setup():
            if ignore_term:
                signal.signal(signal.SIGTERM, signal.SIG_IGN)
        process = subprocess.Popen([str(path), "60"], preexec_fn=setup)
        started.append(process)
        end = time.monotonic() + 5
        while process.pid not in pids_named(name):  # until it has exec'd
            assert time.monotonic() < end
            time.sleep(0.01)
        return process

    start.name = name
    yield start
    for process in started:
        process.kill()
        process.wait()


def test_kill_orphans_terms_them_and_spares_keep(decoy):
    first, second, kept = decoy(), decoy(), decoy()
    killed = kill_orphans(decoy.name, keep={kept.pid}, grace=2.0, owner=OURS)
    assert sorted(killed) == sorted([first.pid, second.pid])
    assert first.wait(timeout=5) == -signal.SIGTERM
    assert second.wait(timeout=5) == -signal.SIGTERM
    assert kept.poll() is None
    assert pids_named(decoy.name) == [kept.pid]


def test_kill_orphans_kills_what_ignores_sigterm_after_grace(decoy):
    stubborn = decoy(ignore_term=True)
    began = time.monotonic()
    assert kill_orphans(decoy.name, grace=0.5, owner=OURS) == [stubborn.pid]
    took = time.monotonic() - began
    assert stubborn.wait(timeout=5) == -signal.SIGKILL
    assert 0.5 <= took < 3.0


def test_kill_orphans_without_matches_kills_nothing(decoy):
    assert kill_orphans(decoy.name, owner=OURS) == []


def test_kill_orphans_ignores_zombies(decoy):
    zombie = decoy()
    os.kill(zombie.pid, signal.SIGKILL)
    wait_dead(zombie.pid)  # our child, not reaped yet: a zombie
    assert kill_orphans(decoy.name, owner=OURS) == []
