"""runDiagnostics through /opt/cloud/bin/diagnostics.py, read the way the management server reads it.

Contract 4.2, 4.3 and scenarios A16-A18. Two kinds of tests:
- with a stub tool: a sitecustomize.py on PYTHONPATH (inherited by the script and by its
  `vrmonitor diag` child) puts stub ping, arping and traceroute modules in place. The stub
  records the argv and family it was given and prints, fails, sleeps or dies as the test asks,
  so the envelope, the defaults, the deadline and "nothing ran" are observed exactly;
- with the real scapy tools, on loopback, or inside namespaces this test creates (netns.py).

Every call runs as CloudStack's KVM agent runs it (tests/ms_parsers.py's agent_call: stderr
merged into what the management server parses) and is read by its `diagnostics` parser, so a
stray byte on stderr would show in what the API returns. The one warning a call can give (an
invalid vrmonitor.toml) goes to <root>/var/log/monitor.log.
"""

import json
import re
import subprocess
import sys
import time
from dataclasses import replace
from pathlib import Path

import pytest

from tests.integration.netns import ABSENT, HOST, ROUTER, ROUTER_MAC, topology
from tests.ms_parsers import Answer, agent_call, diagnostics
from vrmonitor.compat import diagnostics as diagnostics_py
from vrmonitor.compat.install import install
from vrmonitor.diagnostics import validate
from vrmonitor.paths import Paths

SCRIPT = "opt/cloud/bin/diagnostics.py"
PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"


STUB = '''
"""Test stub of vrmonitor's diagnostics tools (see test_diagnostics_entrypoints.py)."""
import json, os, signal, sys, time, types


def _make(tool):
    def parse(argv, family=None, **check_only):
        from vrmonitor.errors import DiagnosticError
        if "x" in argv:
            raise DiagnosticError(f"{tool}: invalid argument: 'x'")
        return argv

    def main(argv, family=None, stdout=None, stderr=None):
        parse(argv, family)
        env = os.environ
        if env.get("STUB_RECORD"):
            with open(env["STUB_RECORD"], "a") as record:
                record.write(json.dumps({"tool": tool, "argv": argv, "family": family}) + "\\n")
        if env.get("STUB_WHERE"):
            with open(env["STUB_WHERE"], "w") as where:
                json.dump({"cwd": os.getcwd(), "path": sys.path}, where)
        stdout.write(env.get("STUB_STDOUT", f"{tool} stub output") + "\\n")
        if env.get("STUB_BYTES"):
            stdout.write("y" * int(env["STUB_BYTES"]))
        stderr.write(env.get("STUB_STDERR", ""))
        stdout.flush()
        time.sleep(float(env.get("STUB_SLEEP", "0")))
        if env.get("STUB_SIGNAL"):
            os.kill(os.getpid(), int(env["STUB_SIGNAL"]))
        return int(env.get("STUB_CODE", "0"))

    module = types.ModuleType(f"vrmonitor.diagnostics.{tool}")
    module.parse, module.main = parse, main
    return module


for _tool in ("ping", "arping", "traceroute"):
    sys.modules[f"vrmonitor.diagnostics.{_tool}"] = _make(_tool)
'''


@pytest.fixture
def vm(tmp_path):
    root = tmp_path / "vm"
    (root / "root").mkdir(parents=True)
    install(Paths(root))
    return root


@pytest.fixture
def stub(tmp_path):
    """Environment for a call with the stub tools; `record` lists what the stub was asked."""
    folder = tmp_path / "stub"
    folder.mkdir()
    (folder / "sitecustomize.py").write_text(STUB)
    record = tmp_path / "record.jsonl"

    class Stub:
        env = {"PATH": PATH, "PYTHONPATH": str(folder), "STUB_RECORD": str(record)}

        @staticmethod
        def calls() -> list[dict]:
            if not record.exists():
                return []
            return [json.loads(line) for line in record.read_text().splitlines()]

    return Stub


def call(root: Path, *args: str, env: dict | None = None, timeout: float = 90,
         netns: str | None = None) -> Answer:
    """The script as sshd runs it (from /root, with a login PATH), in the network namespace
    `netns` when given, with stderr merged as the agent merges it."""
    prefix = ["ip", "netns", "exec", netns] if netns else []
    return agent_call([*prefix, str(root / SCRIPT), *args], timeout=timeout,
                      cwd=root / "root", env=env or {"PATH": PATH})


def answer(reply: Answer) -> dict:
    """What the API returns for the call: the script always exits 0 (a failed call would be
    exitcode -1 with the agent's text)."""
    assert reply.success, reply
    return diagnostics(reply)


def logged(root: Path) -> list[str]:
    """The messages in <root>/var/log/monitor.log as `NAME: LEVEL: message`."""
    messages = []
    for line in (root / "var/log/monitor.log").read_text().splitlines():
        match = re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (\S+)\[\d+\]: (.*)", line)
        assert match, line
        messages.append(f"{match.group(1)}: {match.group(2)}")
    return messages


# --- the envelope and the defaults (A16), with the stub ------------------------------------------

def test_a16_envelope_exactly_and_default_count(vm, stub):
    done = call(vm, "ping", "127.0.0.1", env=stub.env)
    assert done.details == "ping stub output&&\n&&\n0\n"
    assert answer(done) == {"stdout": "ping stub output", "stderr": "", "exitcode": "0"}
    assert stub.calls() == [{"tool": "ping", "argv": ["127.0.0.1", "-c", "4"], "family": 4}]


@pytest.mark.parametrize("args,tool,argv,family", [
    (["ping", "127.0.0.1", "-c", "1"], "ping", ["127.0.0.1", "-c", "1"], 4),
    (["ping", "127.0.0.1", "-c5"], "ping", ["127.0.0.1", "-c5", "-c", "4"], 4),
    (["PING6", "::1"], "ping", ["::1", "-c", "4"], 6),
    (["arping", "198.18.1.1", "-I", "eth0"], "arping", ["198.18.1.1", "-I", "eth0", "-c", "4"], None),
    (["traceroute", "127.0.0.1"], "traceroute", ["127.0.0.1", "-m", "20"], 4),
    (["traceroute", "127.0.0.1", "-m", "10"], "traceroute", ["127.0.0.1", "-m", "10"], 4),
    (["traceroute6", "::1", "-n"], "traceroute", ["::1", "-n", "-m", "20"], 6),
])
def test_a16_defaults_as_the_child_received_them(vm, stub, args, tool, argv, family):
    assert answer(call(vm, *args, env=stub.env))["exitcode"] == "0"
    assert stub.calls() == [{"tool": tool, "argv": argv, "family": family}]


def test_the_tools_stderr_and_exit_code_are_reported(vm, stub):
    env = dict(stub.env, STUB_STDOUT="  PING out  ", STUB_STDERR="ping: boom\n", STUB_CODE="2")
    done = call(vm, "ping", "127.0.0.1", env=env)
    assert done.details == "PING out&&\nping: boom&&\n2\n"
    assert answer(done) == {"stdout": "PING out", "stderr": "ping: boom", "exitcode": "2"}


@pytest.mark.parametrize("text", ["a && b", "&&&", "x&", "&&", "a&&&&b&", "&"])
def test_an_ampersand_pair_never_reaches_the_ms_parser(vm, stub, text):
    env = dict(stub.env, STUB_STDOUT=text, STUB_STDERR=text, STUB_CODE="1")
    done = call(vm, "ping", "127.0.0.1", env=env)
    parts = done.details.split("&&")
    assert len(parts) == 3 and parts[2] == "\n1\n", done.details
    result = answer(done)
    assert result["exitcode"] == "1"
    for part in ("stdout", "stderr"):
        assert "&&" not in result[part]
        assert result[part].replace(" ", "") == text.replace(" ", "")


def test_the_deadline_stops_the_tool_and_says_so(vm, stub):
    (vm / "etc/vrmonitor").mkdir(parents=True)
    (vm / "etc/vrmonitor/vrmonitor.toml").write_text("[diagnostics]\ndeadline = 1.5\n")
    env = dict(stub.env, STUB_STDOUT="PING 127.0.0.1 partial", STUB_SLEEP="30")
    started = time.monotonic()
    done = call(vm, "ping", "127.0.0.1", env=env)
    assert time.monotonic() - started < 10
    assert answer(done) == {
        "stdout": "PING 127.0.0.1 partial",
        "stderr": "diagnostics.py: ping did not finish within 1.5 s and was stopped",
        "exitcode": "124"}


def test_an_invalid_vrmonitor_toml_stays_out_of_the_envelope(vm, stub):
    """The defaults apply; the file's problem is logged, and nothing reaches stderr, which the
    agent would merge into the envelope (behind the exit code, garbling it)."""
    (vm / "etc/vrmonitor").mkdir(parents=True)
    (vm / "var/log").mkdir(parents=True)
    (vm / "etc/vrmonitor/vrmonitor.toml").write_text("[diagnostics]\ndeadline = 90\n")
    done = subprocess.run([str(vm / SCRIPT), "ping", "127.0.0.1"], stdin=subprocess.DEVNULL,
                          capture_output=True, cwd=vm / "root", env=stub.env, timeout=90)
    assert (done.returncode, done.stdout, done.stderr) == (0, b"ping stub output&&\n&&\n0\n", b"")
    assert answer(Answer.of(done.stdout, done.returncode)) == {
        "stdout": "ping stub output", "stderr": "", "exitcode": "0"}
    problem, decision = logged(vm)
    assert problem.startswith(f"diagnostics.py: WARNING: {vm}/etc/vrmonitor/vrmonitor.toml: "
                              "diagnostics.deadline: ")
    assert decision == "diagnostics.py: WARNING: using default settings"


def test_a_tool_killed_by_a_signal_reports_128_plus_the_signal(vm, stub):
    done = call(vm, "traceroute", "127.0.0.1", env=dict(stub.env, STUB_SIGNAL="9"))
    result = answer(done)
    assert result["exitcode"] == "137"
    assert result["stderr"] == "diagnostics.py: traceroute was killed by SIGKILL"


def test_output_beyond_the_cap_is_cut_and_said(vm, stub):
    done = call(vm, "ping", "127.0.0.1", env=dict(stub.env, STUB_BYTES=str(3 * 1024 * 1024)))
    result = answer(done)
    assert len(result["stdout"]) <= diagnostics_py.OUTPUT_CAP
    assert result["stderr"] == ("diagnostics.py: the output of ping was cut at "
                                f"{diagnostics_py.OUTPUT_CAP} bytes")


# --- refusals: nothing runs (A17 unknown type, A18, injection) ---------------------------------

def refused(done: Answer, stub) -> str:
    result = answer(done)
    assert result["stdout"] == "" and result["exitcode"] == "2", result
    assert stub.calls() == []
    return result["stderr"]


def test_unknown_type_is_refused_in_the_envelope(vm, stub):
    done = call(vm, "nslookup", "127.0.0.1", env=stub.env)
    assert done.details == ("&&\ndiagnostics.py: unknown diagnostics type 'nslookup' (expected ping, "
                           "ping6, arping, traceroute or traceroute6)&&\n2\n")
    refused(done, stub)


@pytest.mark.parametrize("args", [
    [], ["ping"],
    ["ping", "127.0.0.1; rm -rf /"], ["ping", "127.0.0.1", ";", "rm", "-rf", "/"],
    ["ping", "127.0.0.1", "; rm -rf /"], ["ping", "$(touch /tmp/vrg-x)"],
    ["ping", "127.0.0.1", "$(touch", "/tmp/vrg-x)"], ["ping", "127.0.0.1", "`touch /tmp/vrg-x`"],
    ["ping", "127.0.0.1", "|", "id"], ["ping", "127.0.0.1|id"], ["ping", "127.0.0.1", "&"],
    ["ping", "127.0.0.1", "-c", "1\n-f"], ["ping", "127.0.0.1\n-f"],
    ["ping", "127.0.0.1", "-f"], ["ping", "127.0.0.1", "-f", "/etc/shadow"],
    ["arping", "127.0.0.1", "-f", "/etc/shadow"], ["ping", "-f", "127.0.0.1"],
    ["ping", "127.0.0.1", "-I", "eth0", "&"], ["ping", "127.0.0.1", "-I", "eth0", ";"],
    ["ping", "127.0.0.1", "&2", ">"], ["ping", "127.0.0.1", ","], ["ping", "127.0.0.1", "'\\''"],
    ["arping", "::1"], ["ping6", "127.0.0.1"], ["traceroute6", "127.0.0.1"],
])
def test_injection_and_bad_requests_are_refused_and_nothing_runs(vm, stub, args):
    stderr = refused(call(vm, *args, env=stub.env), stub)
    assert stderr.startswith("diagnostics.py: ") and "\n" not in stderr
    assert not Path("/tmp/vrg-x").exists()


def test_the_tools_own_parse_has_the_last_word(vm, stub):
    assert refused(call(vm, "ping", "127.0.0.1", "-c", "x", env=stub.env), stub) == \
        "ping: invalid argument: 'x'"


def test_a17_missing_tool_module(vm, monkeypatch, capsys):
    monkeypatch.setitem(validate.TOOLS, "ping",
                        replace(validate.TOOLS["ping"], module="vrmonitor.diagnostics.nosuch"))
    assert diagnostics_py.main(["ping", "127.0.0.1"], str(vm)) == 0
    out, err = capsys.readouterr()
    assert (out, err) == ("Check your command type&&\nException occurred: No module named "
                          "'vrmonitor.diagnostics.nosuch'&&\n1\n", "")
    assert answer(Answer.of(out)) == {
        "stdout": "Check your command type",
        "stderr": "Exception occurred: No module named 'vrmonitor.diagnostics.nosuch'",
        "exitcode": "1"}


def test_a17_child_cannot_start(vm, monkeypatch, capsys):
    monkeypatch.setattr(validate.Tool, "parse", lambda self, argv: None)
    monkeypatch.setattr(sys, "executable", str(vm / "no-such-python"))
    assert diagnostics_py.main(["ping", "127.0.0.1"], str(vm)) == 0
    out, err = capsys.readouterr()
    assert err == ""
    result = answer(Answer.of(out))
    assert result["stdout"] == "Check your command type" and result["exitcode"] == "1"
    assert result["stderr"].startswith("Exception occurred: cannot run ")


def test_the_child_does_not_take_modules_from_the_working_folder(vm, stub, tmp_path):
    # Over SSH the working folder is /root: a vrmonitor/ there must not stand in for the package.
    fake = vm / "root/vrmonitor"
    fake.mkdir()
    (fake / "__init__.py").write_text("raise SystemExit('impostor imported')\n")
    (fake / "__main__.py").write_text("raise SystemExit('impostor imported')\n")
    where = tmp_path / "where.json"
    result = answer(call(vm, "ping", "127.0.0.1", env=dict(stub.env, STUB_WHERE=str(where))))
    assert result["exitcode"] == "0"
    seen = json.loads(where.read_text())
    # The child starts in / and, with -P, nothing but this package's folder leads its path.
    assert seen["cwd"] == "/"
    assert seen["path"][0] == diagnostics_py.PACKAGE_PARENT and "" not in seen["path"]


# --- the real tools (scapy), on loopback and in namespaces --------------------------------------

def test_a16_real_ping_on_loopback(vm):
    result = answer(call(vm, "ping", "127.0.0.1"))
    assert result["stdout"].startswith("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n")
    assert "4 packets transmitted, 4 received, 0% packet loss" in result["stdout"]
    assert (result["stderr"], result["exitcode"]) == ("", "0")
    result = answer(call(vm, "ping", "127.0.0.1", "-c", "1"))
    assert "\n1 packets transmitted, 1 received, 0% packet loss" in result["stdout"]
    assert result["exitcode"] == "0"


def test_a16_real_traceroute_hops_default_and_given(vm):
    result = answer(call(vm, "traceroute", "127.0.0.1", "-n"))
    assert result["stdout"].startswith("traceroute to 127.0.0.1 (127.0.0.1), 20 hops max, ")
    assert result["exitcode"] == "0"
    result = answer(call(vm, "traceroute", "127.0.0.1", "-n", "-m", "10"))
    assert result["stdout"].startswith("traceroute to 127.0.0.1 (127.0.0.1), 10 hops max, ")


def test_ipv6_variants_on_loopback(vm):
    result = answer(call(vm, "ping6", "::1", "-c", "1"))
    assert result["stdout"].startswith("PING ::1(::1) 56 data bytes\n")
    assert "\n1 packets transmitted, 1 received, 0% packet loss" in result["stdout"]
    assert result["exitcode"] == "0"
    result = answer(call(vm, "traceroute6", "::1", "-n"))
    assert result["stdout"].startswith("traceroute to ::1 (::1), 20 hops max, ")
    assert result["exitcode"] == "0"


def test_the_real_tools_refuse_bad_values_with_their_text_and_status(vm):
    # Nothing ran: the parent's parse() refused (their texts are the tools' business).
    result = answer(call(vm, "ping", "127.0.0.1", "-c", "0"))
    assert (result["stdout"], result["exitcode"]) == ("", "1")
    assert result["stderr"].startswith("ping: invalid argument: '0'")
    result = answer(call(vm, "traceroute", "127.0.0.1", "-q", "0"))
    assert (result["stdout"], result["exitcode"]) == ("", "2") and result["stderr"]


def test_a17_real_ping_to_an_absent_host_reports_non_zero(vm):
    with topology("vrg") as topo:
        done = call(vm, "ping", ABSENT, "-c", "1", "-W", "1", netns=topo.host)
    result = answer(done)
    assert result["stdout"].startswith(f"PING {ABSENT} ({ABSENT}) 56(84) bytes of data.")
    assert result["exitcode"] == "1"


def test_a16_real_arping_in_a_namespace_with_the_default_count(vm):
    with topology("vrg") as topo:
        done = call(vm, "arping", ROUTER, "-I", "h0", netns=topo.host)
        refused_by_arping = call(vm, "arping", ROUTER, "-c", "x", netns=topo.host)
    result = answer(done)
    lines = result["stdout"].splitlines()
    assert lines[0] == f"ARPING {ROUTER} from {HOST} h0"
    assert lines[1].startswith(f"Unicast reply from {ROUTER} [{ROUTER_MAC.upper()}]  ")
    assert lines[-2:] == ["Sent 4 probes (1 broadcast(s))", "Received 4 response(s)"]
    assert (result["stderr"], result["exitcode"]) == ("", "0")
    # arping's own parse() refuses the value, with its text and its exit status; nothing runs.
    assert refused_by_arping.details == "&&\narping: invalid argument: 'x'&&\n1\n"
    assert answer(refused_by_arping) == {
        "stdout": "", "stderr": "arping: invalid argument: 'x'", "exitcode": "1"}


def test_real_ping_stopped_by_the_deadline_keeps_what_it_printed(vm):
    (vm / "etc/vrmonitor").mkdir(parents=True)
    (vm / "etc/vrmonitor/vrmonitor.toml").write_text("[diagnostics]\ndeadline = 2\n")
    result = answer(call(vm, "ping", "127.0.0.1", "-c", "30"))
    assert result["stdout"].startswith("PING 127.0.0.1 (127.0.0.1) 56(84) bytes of data.\n")
    assert "icmp_seq=1 " in result["stdout"]
    assert result["stderr"].endswith("diagnostics.py: ping did not finish within 2 s and was stopped")
    assert result["exitcode"] == "124"
