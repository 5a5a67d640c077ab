"""Issue 15, the review of everything root opens, writes, locks and signals
(docs/reliability.md, "Review: what root opens, writes, locks and signals"): one test per
finding, each failing on the code before its fix.

As in the other tests of this folder, what another user does is done for real: processes run as
`nobody`, symlinks owned by `nobody` in folders `nobody` owns, and files tried by `nobody` under
a root anyone may traverse (as / is)."""

import json
import logging
import os
import socket
import subprocess
import sys
import time

import pytest

from tests.integration.test_run_foreground import start_daemon
from tests.security.test_hostile_files import (SECRET, StatusLines, owned_by_nobody, service_folder,  # noqa: F401
                                               stop, watched_sleep)
from tests.security.test_locks_and_privacy import as_nobody, root  # noqa: F401 (fixture)
from tests.security.test_non_utf8 import check
from tests.vmroot import ENV
from vrmonitor.checks import systemvm_agent
from vrmonitor.cloudstack.cmdline import BootArgs, parse_cmdline
from vrmonitor.cloudstack.monitor_conf import ServiceEntry
from vrmonitor.export import prometheus
from vrmonitor.paths import Paths
from vrmonitor.services import recovery
from vrmonitor.services.source import AGENT_PIDFILE, agent_pids, refresh_agent_pidfile
from vrmonitor.system.identity import ProcessIdentity, identify

pytestmark = pytest.mark.root

# A look-alike of CloudStack's agent (whose Java cannot run here): named `java`, the agent's main
# class among its arguments, connected to the management server's agent port.
LOOK_ALIKE = """
import socket, sys
connection = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
print("ready", flush=True)
sys.stdin.read()
"""


@pytest.fixture
def look_alike(root):  # noqa: F811 (the imported fixture)
    """`nobody`'s process posing as the agent, connected to a listener standing in for the
    management server's agent port (loopback). Yields (process, port)."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    java = root / "java"  # where nobody may run it from; the process is then named `java`
    java.symlink_to(sys.executable)
    process = subprocess.Popen([str(java), "-c", LOOK_ALIKE, str(port), "com.cloud.agent.AgentShell"],
                               user="nobody", group="nogroup", stdin=subprocess.PIPE,
                               stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "ready\n"
        accepted, _ = listener.accept()
        yield process, port
        accepted.close()
    finally:
        process.kill()
        process.wait()
        process.stdin.close()
        process.stdout.close()
        listener.close()


def test_another_users_look_alike_is_never_taken_for_the_agent(root, look_alike):  # noqa: F811
    """Before: the lowest PID with the main class in its arguments was recorded as the `cloud`
    service's pidfile (the daemon then watched nobody's process and missed the agent's death),
    and systemvm_agent_check.py passed on nobody's connection."""
    process, port = look_alike
    assert process.pid not in agent_pids()
    paths = Paths(root)
    refresh_agent_pidfile(paths)
    pidfile = paths.run_dir / AGENT_PIDFILE
    # Another test's root stand-in may run meanwhile and be recorded; nobody's never is.
    assert not pidfile.exists() or pidfile.read_text() != f"{process.pid}\n"
    boot = BootArgs(parse_cmdline(f"type=secstorage host=127.0.0.1 port={port}"), present=True)
    message, ok = systemvm_agent.judge(paths, boot, state=lambda: "inactive",
                                       reach=lambda hosts, port, label: [])
    assert (ok, message.startswith("Agent connected")) == (False, False), message


def test_a_health_run_before_any_daemon_keeps_check_messages_from_other_users(root):  # noqa: F811
    """Before: a run from cron or the management server on a VM whose daemon never ran created
    /var/lib/vrmonitor 0755 and health-history.json 0644: check messages anyone could read."""
    for folder in ("root", "root/health_checks"):
        (root / folder).mkdir(mode=0o755)
        (root / folder).chmod(0o755)
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10,
        "health_checks_enabled": True, "excluded_health_checks": [], "health_checks_config": {}}))
    check(root, b"x.sh", b'echo "secret check message"\nexit 1\n')
    done = subprocess.run([sys.executable, "-m", "vrmonitor", "--root", str(root), "health", "run", "basic"],
                          capture_output=True, text=True, env=ENV, timeout=60, check=False)
    assert (done.returncode, done.stderr) == (1, "")
    history = Paths(root).health_history
    assert json.loads(history.read_text())["x.sh"][-1]["message"] == "secret check message"
    assert oct(history.stat().st_mode & 0o777) == "0o600"
    assert as_nobody(history) == "PermissionError"


def test_a_stale_pidfile_is_never_removed_through_a_folder_swapped_for_a_symlink(
        tmp_path, service_folder, monkeypatch, caplog):  # noqa: F811
    """The service's user owns the folders on the way to its pidfile: between the look that
    finds the pidfile stale and the unlink, it swaps a folder for a symlink to a root-only
    folder. Before: root removed the file of that name there. The swap is made at that moment
    by wrapping the look (a race made certain, as test_hostile_files does for a temporary's name)."""
    sub = service_folder / "sub"
    sub.mkdir()
    owned_by_nobody(sub)
    victim = tmp_path / "root-only"
    victim.mkdir(mode=0o700)
    (victim / "svc.pid").write_bytes(SECRET)
    sleeper = subprocess.Popen(["sleep", "300"])
    try:
        (sub / "svc.pid").write_text(f"{sleeper.pid}\n")
        owned_by_nobody(sub / "svc.pid")
        entry = ServiceEntry("svc", "sleep", "svc", str(sub / "svc.pid"))
        now = identify(sleeper.pid)
        # The process last seen up on that PID started earlier: the pidfile is stale.
        seen = ProcessIdentity(now.pid, now.name, now.exe, now.start_time, now.start_ticks - 1)
        look = recovery.observe

        def look_then_swap(*args):
            observed = look(*args)
            sub.rename(service_folder / "moved")
            sub.symlink_to(victim)
            owned_by_nobody(sub)
            return observed

        monkeypatch.setattr(recovery, "observe", look_then_swap)
        with caplog.at_level(logging.WARNING, logger="vrmonitor.services.recovery"):
            recovery.discard_stale_pidfile(entry, seen)
        assert (victim / "svc.pid").read_bytes() == SECRET
        assert f"cannot remove {sub / 'svc.pid'} before restarting sleep" in caplog.text
        assert "a symlink on the way that another user could have placed ('sub')" in caplog.text
        # Without the swap, a stale pidfile in the service's folder is still removed.
        monkeypatch.setattr(recovery, "observe", look)
        (service_folder / "moved" / "svc.pid").rename(service_folder / "svc.pid")
        recovery.discard_stale_pidfile(ServiceEntry("svc", "sleep", "svc", str(service_folder / "svc.pid")), seen)
        assert not (service_folder / "svc.pid").exists()
    finally:
        sleeper.kill()
        sleeper.wait()


# Names the node exporter's user can give entries in its own folder, as temporaries of
# vrmonitor.prom left by a dead writer: a PID no kernel has (os.kill raised OverflowError),
# digits that are not ASCII (int() raised ValueError), a folder (unlink raised EISDIR).
PLANTED = {".vrmonitor.prom.tmp-99999999999999999999-0": "file",
           ".vrmonitor.prom.tmp-\u00b2-0": "file",
           ".vrmonitor.prom.tmp-4194304-0": "folder"}  # above PID_MAX_LIMIT: never alive


def exporter_folder(vm_root):
    """/var/lib/prometheus/node-exporter as its package makes it (the prometheus user's, here
    nobody's), holding the PLANTED names, owned by nobody."""
    exporter = vm_root / "var/lib/prometheus/node-exporter"
    exporter.mkdir(parents=True)
    for folder in (vm_root / "var", vm_root / "var/lib", exporter.parent, exporter):
        folder.chmod(0o755)
    owned_by_nobody(exporter.parent)
    owned_by_nobody(exporter)
    for name, kind in PLANTED.items():
        if kind == "folder":
            (exporter / name).mkdir()
        else:
            (exporter / name).write_text("x")
        owned_by_nobody(exporter / name)
    return exporter


def test_names_planted_in_the_exporters_folder_never_stop_the_export(root):  # noqa: F811
    """Before: the clean-up of dead writers' temporaries raised OverflowError or ValueError on
    such a name, and EISDIR on such a folder: no vrmonitor.prom, ever."""
    exporter = exporter_folder(root)
    prometheus.write(Paths(root), "vrmonitor_up 1\n")
    assert (exporter / "vrmonitor.prom").read_text() == "vrmonitor_up 1\n"
    # A dead writer's temporary is removed; a name no writer makes and a folder are left.
    assert sorted(os.listdir(exporter)) == [".vrmonitor.prom.tmp-4194304-0",
                                            ".vrmonitor.prom.tmp-\u00b2-0", "vrmonitor.prom"]


def test_a_daemon_exporting_into_a_folder_with_planted_names_keeps_running(root):  # noqa: F811
    """The daemon end to end. Before: its first export raised OverflowError out of the loop and
    the daemon exited with a traceback, at every start: the node exporter's user could stop
    the root daemon's monitoring for good."""
    service = watched_sleep(root, root / "sleeper.pid")
    exporter = exporter_folder(root)
    daemon = start_daemon(root)
    status = StatusLines(daemon)
    try:
        status.wait_for("services up 1/1")
        deadline = time.monotonic() + 10
        while not (exporter / "vrmonitor.prom").exists():
            assert time.monotonic() < deadline, "vrmonitor.prom not written"
            assert daemon.poll() is None, "the daemon exited"
            time.sleep(0.1)
        status.wait_for("services up 1/1")  # still monitoring after the export
    finally:
        code = stop(daemon)
        service.kill()
        service.wait()
    assert (code, daemon.stderr.read()) == (0, "")
    assert "vrmonitor_up 0" in (exporter / "vrmonitor.prom").read_text()  # the clean stop's word
