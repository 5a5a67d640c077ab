"""Issue 15: the orphan kill hits the service's own apache2 processes, never a namesake's.

Real processes stand in for apache2: a copy of /bin/sleep named `apache2`. A "master" (a
Python process leading its own session) forks the "workers", and is then killed with -9,
as a crashed apache2 master would be. The cgroup rule is tested against a fake /proc, since
this host does not run systemd.
"""

import ctypes
import logging
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import time

import pytest

from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.services.orphans import Owner, kill_orphans, owner_of, owns
from vrmonitor.services.recovery import recover
from vrmonitor.system.identity import ProcessIdentity, identify, read_stat
from vrmonitor.system.initsys import RESTART, ActionResult, Assessment

PR_SET_CHILD_SUBREAPER = 36

# The master: starts one worker per user named on its command line, prints their PIDs, waits.
MASTER = """\
import subprocess, sys, time
for user in sys.argv[2:]:
    print(subprocess.Popen([sys.argv[1], "60"], user=user).pid, flush=True)
time.sleep(60)
"""


def _uid(user: str) -> int:
    return pwd.getpwnam(user).pw_uid


def _wait_named(pid: int, name: str = "apache2", within: float = 5.0) -> ProcessIdentity:
    """The identity of `pid` once it has exec'd `name`."""
    end = time.monotonic() + within
    while True:
        identity = identify(pid)
        if identity is not None and identity.name == name:
            return identity
        assert time.monotonic() < end, f"PID {pid} did not become {name}"
        time.sleep(0.01)


def _alive(identity: ProcessIdentity) -> bool:
    stat = read_stat(identity.pid)
    return stat is not None and stat.state != "Z" and stat.start_ticks == identity.start_ticks


class Processes:
    """Everything a test starts, killed by PID (start time checked) and reaped afterwards.

    The test process is a child subreaper meanwhile: orphaned workers become its children, so
    it reaps them (PID 1 here reaps late) and knows how each one died."""

    def __init__(self, binary: str):
        self.binary = binary
        self.started: list[ProcessIdentity] = []
        self.children: list[subprocess.Popen] = []

    def apache2(self, user: str | None = None) -> subprocess.Popen:
        """An apache2 namesake leading a session of its own, run as `user` (None: as we run)."""
        child = subprocess.Popen([self.binary, "60"], user=user, start_new_session=True)
        self.children.append(child)
        self.started.append(_wait_named(child.pid))
        return child

    def master_with_workers(self, *users: str) -> tuple[ProcessIdentity, list[ProcessIdentity]]:
        """A master seen up with workers as `users`, then killed -9: its identity, the workers'."""
        master = subprocess.Popen([sys.executable, "-c", MASTER, self.binary, *users],
                                  stdout=subprocess.PIPE, text=True, start_new_session=True)
        self.children.append(master)
        self.started.append(identify(master.pid))
        workers = [int(master.stdout.readline()) for _ in users]
        master.stdout.close()
        identities = [_wait_named(pid) for pid in workers]
        self.started.extend(identities)
        seen = identify(master.pid)
        os.kill(master.pid, signal.SIGKILL)
        master.wait(timeout=5)
        return seen, identities

    def died_of(self, identity: ProcessIdentity, within: float = 5.0) -> int:
        """The signal that killed worker `identity` (reparented to us), once it is dead."""
        end = time.monotonic() + within
        while True:
            pid, status = os.waitpid(identity.pid, os.WNOHANG)
            if pid:
                return os.WTERMSIG(status) if os.WIFSIGNALED(status) else 0
            assert time.monotonic() < end, f"PID {identity.pid} still alive"
            time.sleep(0.02)

    def cleanup(self) -> None:
        for identity in self.started:
            if identity is not None and _alive(identity):
                os.kill(identity.pid, signal.SIGKILL)
        for child in self.children:
            child.wait(timeout=5)
        for identity in self.started:  # orphaned workers: our children now
            try:
                os.waitpid(identity.pid, 0)
            except ChildProcessError:
                pass  # reaped already, or never ours


@pytest.fixture
def processes():
    folder = tempfile.mkdtemp(prefix="vrmt-orphans-")
    os.chmod(folder, 0o755)  # nobody must be able to run the copy
    binary = os.path.join(folder, "apache2")
    shutil.copy("/bin/sleep", binary)
    os.chmod(binary, 0o755)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) == 0, os.strerror(ctypes.get_errno())
    started = Processes(binary)
    try:
        yield started
    finally:
        started.cleanup()
        libc.prctl(PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0)
        shutil.rmtree(folder)


def _sysv_owner(seen: ProcessIdentity | None) -> Owner:
    return owner_of("apache2", "sysv", seen)


@pytest.mark.root
def test_workers_of_the_dead_master_are_killed(processes):
    seen, workers = processes.master_with_workers("root", "www-data")
    killed = kill_orphans("apache2", grace=0.5, owner=_sysv_owner(seen))
    assert sorted(killed) == sorted(w.pid for w in workers)
    assert [processes.died_of(w) for w in workers] == [signal.SIGTERM, signal.SIGTERM]


@pytest.mark.root
def test_nobodys_apache2_in_another_session_survives(processes):
    seen, workers = processes.master_with_workers("root")
    foreign = processes.apache2(user="nobody")
    assert kill_orphans("apache2", grace=0.5, owner=_sysv_owner(seen)) == [workers[0].pid]
    assert foreign.poll() is None


@pytest.mark.root
def test_nobodys_apache2_in_the_masters_session_survives(processes):
    seen, (root_worker, nobodys) = processes.master_with_workers("root", "nobody")
    assert kill_orphans("apache2", grace=0.5, owner=_sysv_owner(seen)) == [root_worker.pid]
    assert _alive(nobodys)


@pytest.mark.root
def test_roots_apache2_in_another_session_survives(processes):
    seen, workers = processes.master_with_workers("root")
    foreign = processes.apache2(user="root")
    assert kill_orphans("apache2", grace=0.5, owner=_sysv_owner(seen)) == [workers[0].pid]
    assert foreign.poll() is None


@pytest.mark.root
def test_without_the_master_seen_nothing_is_killed(processes, caplog):
    _, workers = processes.master_with_workers("root")
    with caplog.at_level(logging.WARNING, logger="vrmonitor.services.orphans"):
        assert kill_orphans("apache2", grace=0.5, owner=_sysv_owner(None)) == []
    assert _alive(workers[0])
    assert "cannot be told from another user's" in caplog.text


class _Init:
    name = "sysv"

    def assess(self, service):
        return Assessment(RESTART, "")

    def restarts_itself(self, service):
        return False  # SysV: no unit brings the service back

    def restart(self, service, timeout=60.0):
        return ActionResult(True, "")


class _Gate:
    def check(self, processname, override=None):
        return None


@pytest.mark.root
def test_recover_kills_the_dead_masters_workers_only(processes, tmp_path):
    seen, workers = processes.master_with_workers("root", "www-data")
    foreign = [processes.apache2(user="nobody"), processes.apache2(user="root")]
    entry = ServiceEntry("webserver", "apache2", "apache2", str(tmp_path / "apache2.pid"))
    assert recover(entry, _Init(), gate=_Gate(), seen=seen).kind == "restarted"
    assert [processes.died_of(w) for w in workers] == [signal.SIGTERM, signal.SIGTERM]
    assert [child.poll() for child in foreign] == [None, None]


@pytest.mark.root
def test_a_one_shot_pass_finds_the_dead_master_by_its_pidfile(processes, tmp_path):
    """monitorServices.py's pass has seen nothing up: the pidfile still names the dead master,
    whose PID the kernel keeps while its workers hold it as their session."""
    seen, workers = processes.master_with_workers("root", "www-data")
    foreign = [processes.apache2(user="nobody"), processes.apache2(user="root")]
    pidfile = tmp_path / "apache2.pid"
    pidfile.write_text(f"{seen.pid}\n")
    entry = ServiceEntry("webserver", "apache2", "apache2", str(pidfile))
    assert recover(entry, _Init(), gate=_Gate(), seen=None).kind == "restarted"
    assert [processes.died_of(w) for w in workers] == [signal.SIGTERM, signal.SIGTERM]
    assert [child.poll() for child in foreign] == [None, None]


# The cgroup rule, and the session rule's corners, against a fake /proc.

def _fake_process(proc, pid, *, cgroup="0::/\n", uids=(0, 0, 0, 0), pgrp=None, session=None,
                  start_ticks=1000):
    folder = proc / str(pid)
    folder.mkdir(parents=True)
    fields = ["S", "1", str(pgrp or pid), str(session or pid)] + ["0"] * 15 + [str(start_ticks)]
    fields += ["0"] * 30
    (folder / "stat").write_text(f"{pid} (apache2) {' '.join(fields)}\n")
    (folder / "status").write_text("Name:\tapache2\nUid:\t" + "\t".join(map(str, uids)) + "\n")
    (folder / "cgroup").write_text(cgroup)
    return ProcessIdentity(pid, "apache2", "/usr/sbin/apache2", 0.0, start_ticks)


UNIT = Owner(unit="apache2.service")


@pytest.mark.parametrize("cgroup, owned", [
    ("0::/system.slice/apache2.service\n", True),
    ("0::/system.slice/apache2.service/worker\n", True),  # a sub-cgroup of the unit
    ("0::/system.slice/web.slice/apache2.service\n", True),  # Slice= elsewhere
    ("1:name=systemd:/system.slice/apache2.service\n0::/system.slice/apache2.service\n", True),
    (("12:pids:/system.slice/apache2.service\n"  # a v1 controller's hierarchy does not count
      "1:name=systemd:/user.slice/user-0.slice/session-3.scope\n"
      "0::/user.slice/user-0.slice/session-3.scope\n"), False),
    ("0::/user.slice/user-1000.slice/session-3.scope\n", False),
    # a user's own manager may run a unit called apache2.service: not the system's
    ("0::/user.slice/user-1000.slice/user@1000.service/app.slice/apache2.service\n", False),
    ("0::/system.slice/apache2@other.service\n", False),
    ("0::/system.slice/apache2-htcacheclean.service\n", False),
    ("0::/\n", False),
    ("", False),
])
def test_the_unit_cgroup_decides_under_systemd(tmp_path, cgroup, owned):
    identity = _fake_process(tmp_path, 4242, cgroup=cgroup)
    assert owns(UNIT, identity, str(tmp_path)) is owned


def test_a_successor_on_the_pid_is_not_the_units(tmp_path):
    _fake_process(tmp_path, 4242, cgroup="0::/system.slice/apache2.service\n", start_ticks=2000)
    listed = ProcessIdentity(4242, "apache2", "", 0.0, 1000)  # the process that was listed
    assert owns(UNIT, listed, str(tmp_path)) is False


def test_a_process_gone_from_proc_is_nobodys(tmp_path):
    assert owns(UNIT, ProcessIdentity(4242, "apache2", "", 0.0, 1000), str(tmp_path)) is False


MASTER_SEEN = ProcessIdentity(100, "apache2", "/usr/sbin/apache2", 0.0, 500)
SESSION = Owner(master=MASTER_SEEN, uids=frozenset({0, 33}))


@pytest.mark.parametrize("process, owned", [
    ({"session": 100, "pgrp": 100}, True),
    ({"session": 100, "pgrp": 100, "uids": (33, 33, 33, 33)}, True),
    ({"session": 7, "pgrp": 100}, True),  # the master's process group
    ({"session": 100, "pgrp": 100, "uids": (65534,) * 4}, False),  # nobody
    ({"session": 100, "pgrp": 100, "uids": (65534, 0, 0, 0)}, False),  # setuid root, run by nobody
    ({"session": 7, "pgrp": 7}, False),  # root's apache2 in another session
    ({"session": 100, "pgrp": 100, "start_ticks": 400}, False),  # older than the master: reuse
])
def test_the_masters_session_and_users_decide_otherwise(tmp_path, process, owned):
    identity = _fake_process(tmp_path, 4242, **{"start_ticks": 1000, **process})
    assert owns(SESSION, identity, str(tmp_path)) is owned


def test_no_owner_owns_nothing(tmp_path):
    identity = _fake_process(tmp_path, 4242, cgroup="0::/system.slice/apache2.service\n",
                             session=100, pgrp=100)
    assert owns(Owner(), identity, str(tmp_path)) is False


def test_owner_of_under_systemd_is_the_unit():
    assert owner_of("apache2", "systemd", None).unit == "apache2.service"
    assert owner_of("apache2.service", "systemd", MASTER_SEEN).unit == "apache2.service"


def test_owner_of_without_systemd_is_the_master_and_the_run_user(tmp_path):
    envvars = tmp_path / "envvars"
    envvars.write_text("unset HOME\nexport APACHE_RUN_USER=nobody\n"
                       "export APACHE_RUN_GROUP=nogroup\n")
    owner = owner_of("apache2", "sysv", MASTER_SEEN, str(envvars))
    assert owner.master == MASTER_SEEN and not owner.unit
    assert owner.uids == {0, _uid("nobody")}
    missing = owner_of("apache2", "sysv", MASTER_SEEN, str(tmp_path / "none"))
    assert missing.uids == {0, _uid("www-data")}
    envvars.write_text("export APACHE_RUN_USER=no-such-user-here\n")
    assert owner_of("apache2", "sysv", MASTER_SEEN, str(envvars)).uids == {0}


def test_kill_orphans_under_systemd_kills_the_units_processes_only(processes, tmp_path):
    """Real processes, their cgroup files faked: the one in apache2.service goes."""
    ours, theirs = processes.apache2(), processes.apache2()
    proc = tmp_path / "proc"
    for child, cgroup in ((ours, "0::/system.slice/apache2.service\n"),
                          (theirs, "0::/user.slice/user-0.slice/session-1.scope\n")):
        (proc / str(child.pid)).mkdir(parents=True)
        (proc / str(child.pid) / "cgroup").write_text(cgroup)
        shutil.copy(f"/proc/{child.pid}/stat", proc / str(child.pid) / "stat")
    killed = kill_orphans("apache2", grace=0.5, owner=owner_of("apache2", "systemd", None),
                          proc=str(proc))
    assert killed == [ours.pid]
    assert ours.wait(timeout=5) == -signal.SIGTERM
    assert theirs.poll() is None
