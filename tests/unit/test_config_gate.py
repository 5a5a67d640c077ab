"""The config gate: a config test that passed is not repeated while the files are unchanged."""

import os

from vrmonitor.services.configtest import ConfigGate
from vrmonitor.system.initsys import ActionResult


class CountingTest:
    def __init__(self, ok=True):
        self.calls, self.ok = 0, ok

    def __call__(self, processname, override=None):
        self.calls += 1
        return ActionResult(self.ok, "" if self.ok else "line 3: unknown keyword")


def test_a_passed_test_is_remembered_until_a_file_changes(tmp_path):
    conf = tmp_path / "haproxy.cfg"
    included = tmp_path / "conf.d"
    included.mkdir()
    conf.write_text("global\n")
    test = CountingTest()
    gate = ConfigGate(test, files={"haproxy": (str(conf), str(included))})
    assert gate.check("haproxy").ok and test.calls == 1
    assert gate.check("haproxy") is None and test.calls == 1  # known good: no second test
    (included / "extra.cfg").write_text("x\n")  # a new file in a config folder
    assert gate.check("haproxy").ok and test.calls == 2
    conf.write_text("global\n    bad\n")
    test.ok = False
    result = gate.check("haproxy")
    assert (result.ok, result.detail, test.calls) == (False, "line 3: unknown keyword", 3)
    assert gate.check("haproxy").ok is False and test.calls == 4  # a failure is never remembered


def test_a_file_replaced_with_the_same_size_and_time_is_still_a_change(tmp_path):
    conf = tmp_path / "sshd_config"
    conf.write_text("Port 22\n")
    test = CountingTest()
    gate = ConfigGate(test, files={"sshd": (str(conf),)})
    gate.check("sshd")
    stamp = conf.stat()
    replacement = tmp_path / "new"
    replacement.write_text("Port 23\n")
    os.utime(replacement, ns=(stamp.st_atime_ns, stamp.st_mtime_ns))
    os.replace(replacement, conf)  # same size and mtime, another inode
    gate.check("sshd")
    assert test.calls == 2


def test_an_override_command_is_always_run(tmp_path):
    test = CountingTest()
    gate = ConfigGate(test, files={"dnsmasq": (str(tmp_path),)})
    gate.check("dnsmasq", ("dnsmasq", "--test", "--conf-file=/x"))
    gate.check("dnsmasq", ("dnsmasq", "--test", "--conf-file=/x"))
    assert test.calls == 2
