"""Configuration tests with the real dnsmasq, haproxy, sshd and apache2ctl.

The default tests run in a private mount namespace with a fresh tmpfs on /run, as on a machine
where none of the four daemons was ever started (or under systemd, after a unit stopped and its
RuntimeDirectory went): every runtime folder their start would create is absent, and the host's
own /run is never touched.
"""

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.faults.mount_namespace import ENV, MountNamespace
from vrmonitor.services.configtest import DEFAULT_TESTS, RUNTIME_FOLDERS, config_test

pytestmark = pytest.mark.root

BROKEN_HAPROXY = """\
global
    daemon

defaults
    mode tcp
    timeout connect 1s
    timeout client 1s
    timeout server 1s

frontend broken
    bind 127.0.0.1:10081
    no_such_keyword here
"""


PROJECT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def no_runtime_folder_left_behind():
    """A test on the host that runs sshd's configuration test makes /run/sshd, as the start
    would: removed again when it was not there before (the next run finds a fresh machine)."""
    absent = [folder for folders in RUNTIME_FOLDERS.values() for folder in folders
              if not os.path.lexists(folder)]
    yield
    for folder in absent:
        shutil.rmtree(folder, ignore_errors=True)
# config_test() in the namespace, its result as JSON on stdout.
CONFIG_TEST = ("import json, sys; from vrmonitor.services.configtest import config_test; "
               "result = config_test(sys.argv[1]); "
               "print(json.dumps(result and {'ok': result.ok, 'detail': result.detail}))")


@pytest.fixture
def empty_run():
    """A mount namespace whose /run is a tmpfs as a boot leaves it before any of the daemons
    started: only /run/lock, which systemd-tmpfiles makes at boot (the host's /run is left
    alone)."""
    namespace = MountNamespace()
    try:
        namespace.mount_tmpfs(Path("/run"), "16m")
        namespace.run("mkdir", "-m", "1777", "/run/lock")
        yield namespace
    finally:
        namespace.close()


def config_test_in(namespace: MountNamespace, processname: str) -> dict | None:
    done = subprocess.run([*namespace.prefix, sys.executable, "-c", CONFIG_TEST, processname],
                          capture_output=True, text=True, timeout=120, check=False,
                          env=dict(ENV, PYTHONPATH=str(PROJECT)))
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


@pytest.mark.parametrize("processname", sorted(DEFAULT_TESTS))
def test_default_test_passes_with_no_runtime_folder_of_any_daemon(empty_run, processname):
    """Issue 13: a fresh /run (sshd never started, /run/sshd absent) is not a broken config."""
    assert not empty_run.view("/run/sshd").exists()
    result = config_test_in(empty_run, processname)
    assert result is not None
    assert result["ok"], result["detail"]
    for folder in RUNTIME_FOLDERS.get(processname, ()):  # made as the start makes it
        made = empty_run.view(folder).stat()
        assert (oct(made.st_mode & 0o7777), made.st_uid, made.st_gid) == (oct(0o755), 0, 0)


def test_a_broken_sshd_config_still_blocks_with_no_runtime_folder(empty_run, tmp_path):
    """The folder is made, and sshd's own message about the configuration is what comes back."""
    broken = tmp_path / "sshd_config"
    broken.write_text(Path("/etc/ssh/sshd_config").read_text() + "NoSuchOption yes\n")
    lines = len(broken.read_text().splitlines())
    empty_run.run("mount", "--bind", str(broken), "/etc/ssh/sshd_config")
    result = config_test_in(empty_run, "sshd")
    assert result["ok"] is False
    assert result["detail"].splitlines() == [
        f"/etc/ssh/sshd_config: line {lines}: Bad configuration option: NoSuchOption",
        "/etc/ssh/sshd_config: terminating, 1 bad configuration options"]


def test_a_runtime_folder_that_stands_is_left_as_it_is(tmp_path):
    from vrmonitor.services.configtest import prepare_runtime_folders

    folder = tmp_path / "sshd"
    folder.mkdir(mode=0o711)
    folder.chmod(0o711)
    prepare_runtime_folders("sshd", {"sshd": (str(folder),)})
    assert oct(folder.stat().st_mode & 0o7777) == oct(0o711)
    made = tmp_path / "made"
    prepare_runtime_folders("sshd", {"sshd": (str(made),)})
    assert oct(made.stat().st_mode & 0o7777) == oct(0o755)


def test_haproxy_broken_configuration_gives_haproxys_alert(tmp_path):
    broken = tmp_path / "haproxy.cfg"
    broken.write_text(BROKEN_HAPROXY)
    result = config_test("haproxy", ("haproxy", "-c", "-f", str(broken)))
    assert not result.ok
    lines = result.detail.splitlines()
    assert lines[0].startswith("[ALERT]")
    assert f"parsing [{broken}:12] : unknown keyword 'no_such_keyword'" in lines[0]
    assert not any("[NOTICE]" in line for line in lines)


def test_haproxy_good_copy_passes(tmp_path):
    good = tmp_path / "haproxy.cfg"
    good.write_text(BROKEN_HAPROXY.replace("    no_such_keyword here\n", ""))
    result = config_test("haproxy", ("haproxy", "-c", "-f", str(good)))
    assert result.ok, result.detail
    assert result.detail == "Configuration file is valid"


def test_dnsmasq_broken_configuration(tmp_path):
    broken = tmp_path / "dnsmasq.conf"
    broken.write_text("interface=lo\nno-such-option=1\n")
    result = config_test("dnsmasq", ("dnsmasq", "--test", f"--conf-file={broken}"))
    assert not result.ok
    assert result.detail == f"dnsmasq: bad option at line 2 of {broken}"


def test_sshd_broken_configuration(tmp_path):
    broken = tmp_path / "sshd_config"
    broken.write_text("Port 22\nNoSuchOption yes\n")
    result = config_test("sshd", ("/usr/sbin/sshd", "-t", "-f", str(broken)))
    assert not result.ok
    assert result.detail.splitlines() == [
        f"{broken}: line 2: Bad configuration option: NoSuchOption",
        f"{broken}: terminating, 1 bad configuration options"]


def test_apache_broken_configuration_through_an_override(tmp_path):
    """apache2ctl passes other arguments on to apache2 after reading /etc/apache2/envvars."""
    broken = tmp_path / "apache2.conf"
    broken.write_text("Include /etc/apache2/apache2.conf\nNoSuchDirective on\n")
    result = config_test("apache2", ("apache2ctl", "-t", "-f", str(broken)))
    assert not result.ok
    assert f"AH00526: Syntax error on line 2 of {broken}:" in result.detail
    assert "Invalid command 'NoSuchDirective'" in result.detail
    assert "The Apache error log may have more information" not in result.detail


def test_apache_default_test_fails_on_a_broken_enabled_conf(edit_file):
    broken = "/etc/apache2/conf-enabled/zz-vrmonitor-broken.conf"
    edit_file(broken, "NoSuchDirective on\n")
    result = config_test("apache2")
    assert not result.ok
    assert f"Syntax error on line 1 of {broken}" in result.detail


def test_no_test_for_an_unknown_process():
    assert config_test("vrmonitor-unknown") is None


def test_missing_test_program_gives_none_so_callers_restart():
    assert config_test("haproxy", ("vrmonitor-no-such-binary", "-c")) is None
    assert config_test("haproxy", ("/nonexistent/haproxy", "-c")) is None


def test_override_replaces_the_default():
    result = config_test("sshd", ("/bin/echo", "checked by override"))
    assert result.ok and result.detail == "checked by override"
    failed = config_test("sshd", ("/bin/false",))
    assert not failed.ok
    assert failed.detail == "/bin/false exited with status 1"


def test_override_for_a_process_without_a_default():
    assert config_test("vrmonitor-unknown", ("/bin/true",)).ok


def test_a_hanging_test_fails_with_its_timeout():
    result = config_test("haproxy", ("sleep", "30"), timeout=0.5)
    assert not result.ok
    assert result.detail == "sleep 30 timed out after 0.5 s"
