"""The SysV backend against the real Debian daemons and their init scripts."""

import time

import pytest

from vrmonitor.services.probes import probe
from vrmonitor.system.identity import identify, is_named
from vrmonitor.system.initsys import RESTART, UNKNOWN, Assessment, SysV

pytestmark = [pytest.mark.root, pytest.mark.daemons]


def test_restart_gives_a_new_running_process(real_daemon, record_property):
    old = real_daemon.wait_running()
    began = time.monotonic()
    result = SysV().restart(real_daemon.servicename)
    took = time.monotonic() - began
    record_property("restart_seconds", round(took, 2))
    print(f"{real_daemon.servicename} restart: {took:.2f} s")
    assert result.ok, result.detail
    new = real_daemon.wait_running(other_than=old, within=5)
    identity = identify(new)
    assert identity is not None and is_named(identity, real_daemon.processname)
    assert identify(old) is None or not is_named(identify(old), real_daemon.processname)
    real_daemon.wait_listening(within=5)
    served = probe(real_daemon.probe, real_daemon.port)
    assert served.ok, served.detail


def test_restart_starts_a_stopped_service(real_haproxy):
    old = real_haproxy.wait_running()
    assert real_haproxy.service("stop").ok
    result = SysV().restart("haproxy")
    assert result.ok, result.detail
    assert real_haproxy.wait_running(other_than=old, within=5)


def test_restart_of_an_unknown_service_says_why():
    result = SysV().restart("vrmonitor-no-such-service")
    assert not result.ok
    assert result.detail == "no init script /etc/init.d/vrmonitor-no-such-service"


def test_restart_failure_carries_the_init_script_output(real_haproxy, edit_file):
    """A failed restart reports the script's words and its exit status.

    Debian's haproxy script stops the daemon before it checks the configuration, so a
    restart with a broken configuration leaves haproxy down: why vrmonitor tests first.
    """
    edit_file("/etc/haproxy/haproxy.cfg", "global\n    no_such_keyword\n")
    result = SysV().restart("haproxy")
    assert not result.ok
    assert "haproxy" in result.detail
    assert result.detail.endswith("(service haproxy restart exited with status 1)")
    assert real_haproxy.running_pid() is None


def test_knows_the_installed_init_scripts():
    sysv = SysV()
    for name in ("ssh", "dnsmasq", "haproxy", "apache2"):
        assert sysv.knows(name), name
    assert not sysv.knows("vrmonitor-no-such-service")
    assert not sysv.knows("../init.d/ssh")
    assert sysv.assess("ssh") == Assessment(RESTART, "")
    assert sysv.assess("vrmonitor-no-such-service").verdict == UNKNOWN
