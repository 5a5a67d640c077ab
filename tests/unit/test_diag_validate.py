"""What diagnostics.py lets through (contract 4.1, 4.2, A16, A18) and how `vrmonitor diag` dispatches.

Validation is pure: no tool module is needed. The dispatch tests put a stub tool module in
sys.modules, so they need neither scapy nor the real tools.
"""

import re
import sys
import types

import pytest

from tests.ms_parsers import Answer, diagnostics
from vrmonitor.cli import main
from vrmonitor.compat.diagnostics import diagnose, envelope
from vrmonitor.diagnostics.toolkit import ToolExit
from vrmonitor.diagnostics.validate import (TOOLS, check_options, exit_status, is_host_name, request,
                                           with_defaults)
from vrmonitor.errors import DiagnosticError
from vrmonitor.paths import Paths

# The MS's own rule for `params` (DiagnosticsServiceImpl), as Java reads it (\w is ASCII there).
MS_PARAMS = re.compile(r"^[\w\-\s.]+$", re.ASCII)


def params(text: str) -> list[str]:
    """What the VM's login shell makes of the MS's `<type> <ip> <params>` string (no metachars)."""
    return text.split()


# --- A18: the MS's parameter rule, and the same verdicts on the VM -----------------------------

MS_REJECTED = ["'\\''", "-I eth0 &", "-I eth0 ;", " &2 > ", " &2 >> ", " | ", "|", ","]
MS_ACCEPTED = [".", " ", "-I eth0 www.google.com", " -I cloudbr0 --sport ", " --back -m20 ",
               "-c 5 -4", "-c 5 -4 -AbDfhqUV"]


@pytest.mark.parametrize("text", MS_REJECTED)
def test_what_the_ms_rejects_is_refused_on_the_vm_too(text):
    assert not MS_PARAMS.match(text)
    # Quoted, as one argument; and split by the shell, as separate words.
    for args in ([text], text.split()):
        with pytest.raises(DiagnosticError, match="refused"):
            request(["ping", "127.0.0.1", *args])


@pytest.mark.parametrize("text", MS_REJECTED)
def test_a_refusal_reaches_the_ms_as_its_stderr_with_exit_code_2(text, tmp_path):
    """Should one get past the MS (another version, a direct call), the answer still splits in
    three and says why; stdout stays empty."""
    argv = ["ping", "127.0.0.1", *params(text)]
    with pytest.raises(DiagnosticError) as refused:
        request(argv)
    assert diagnostics(Answer.of(envelope(diagnose(argv, Paths(tmp_path))))) == {
        "stdout": "", "stderr": f"diagnostics.py: {refused.value}", "exitcode": "2"}


@pytest.mark.parametrize("text", MS_ACCEPTED)
def test_the_ms_rule_accepts_these(text):
    assert MS_PARAMS.match(text)


def test_accepted_ping_parameters_pass_with_defaults_where_absent():
    assert request(["ping", "127.0.0.1", *params("-c 5 -4")]).argv == ("127.0.0.1", "-c", "5", "-4")
    assert request(["ping", "127.0.0.1"]).argv == ("127.0.0.1", "-c", "4")
    assert request(["PING", "127.0.0.1", "-n", "-q"]).argv == ("127.0.0.1", "-n", "-q", "-c", "4")


def test_options_the_vm_tool_does_not_document_are_refused_even_when_the_ms_allows_them():
    with pytest.raises(DiagnosticError, match=r"option -A is not allowed"):
        request(["ping", "127.0.0.1", *params("-c 5 -4 -AbDfhqUV")])
    with pytest.raises(DiagnosticError, match=r"option '--back' is not allowed"):
        request(["traceroute", "127.0.0.1", *params(" --back -m20 ")])


# --- A16: the reference's defaults ------------------------------------------------------------

@pytest.mark.parametrize("tool,given,final", [
    ("ping", [], ["-c", "4"]),
    ("ping", ["-c", "1"], ["-c", "1"]),
    ("ping", ["-c5"], ["-c5", "-c", "4"]),  # only an argument exactly `-c` counts
    ("ping6", [], ["-c", "4"]),
    ("arping", ["-I", "eth0"], ["-I", "eth0", "-c", "4"]),
    ("arping", ["-c", "2", "-I", "eth0"], ["-c", "2", "-I", "eth0"]),
    ("traceroute", [], ["-m", "20"]),
    ("traceroute", ["-m", "10"], ["-m", "10"]),
    ("traceroute", ["-m10"], ["-m10", "-m", "20"]),
    ("traceroute6", ["-n"], ["-n", "-m", "20"]),
])
def test_defaults_are_the_references(tool, given, final):
    address = "::1" if tool.endswith("6") else "127.0.0.1"
    assert request([tool, address, *given]).argv == (address, *final)


def test_with_defaults_counts_any_argument_that_is_exactly_the_option():
    assert with_defaults(TOOLS["ping"], ["x", "-c"]) == ["x", "-c"]
    assert with_defaults(TOOLS["traceroute"], ["x", "-c"]) == ["x", "-c", "-m", "20"]


# --- TYPE and ADDRESS ---------------------------------------------------------------------------

def test_type_is_one_of_five_case_insensitively():
    assert {name for name in TOOLS} == {"ping", "ping6", "arping", "traceroute", "traceroute6"}
    assert request(["TraceRoute", "127.0.0.1"]).tool.name == "traceroute"
    for bad in (["nslookup", "127.0.0.1"], ["ping;", "127.0.0.1"], []):
        with pytest.raises(DiagnosticError, match="diagnostics type"):
            request(bad)
    with pytest.raises(DiagnosticError, match="no address"):
        request(["ping"])


@pytest.mark.parametrize("tool,address", [
    ("ping", "127.0.0.1"), ("ping", "::1"), ("traceroute", "fd18:2::2"),
    ("ping", "router-1.example.com"), ("ping", "localhost"),
    ("ping", "example.com."), ("ping6", "::1"), ("ping6", "fe80::1%eth0"), ("ping6", "ip6-localhost"),
    ("arping", "198.18.1.1"), ("traceroute", "a1.b2"), ("traceroute6", "fd18:2::2"),
])
def test_addresses_and_host_names_pass(tool, address):
    assert request([tool, address]).argv[0] == address


@pytest.mark.parametrize("tool,address,why", [
    ("arping", "::1", "arping: ::1 is an IPv6 address"),
    ("ping6", "127.0.0.1", "ping6: 127.0.0.1 is an IPv4 address; use type ping"),
    ("traceroute6", "198.18.2.2", "use type traceroute"),
    ("arping", "a;b", "not an IPv4 address or a host name"),
    ("ping", "a;b", "not an IP address or a host name"),
    ("ping", "-f", "refused"),
    ("ping", "127.1", "refused"),  # inet_aton shorthand
    ("ping", "0x7f.1", "refused"),
    ("ping", "1.2.3.4.5", "refused"),
    ("ping", "a..b", "refused"),
    ("ping", "-host", "refused"),
    ("ping", "host-.com", "refused"),
    ("ping", "a" * 64 + ".com", "refused"),
    ("ping", ".".join(["a" * 60] * 5), "refused"),  # longer than 253
    ("ping", "127.0.0.1; rm -rf /", "refused"),
    ("ping", "$(touch /tmp/x)", "refused"),
    ("ping", "`touch /tmp/x`", "refused"),
    ("ping", "127.0.0.1|id", "refused"),
    ("ping", "127.0.0.1&", "refused"),
    ("ping", "127.0.0.1\n-f", "refused"),
    ("ping", "", "refused"),
    ("ping6", "fe80::1%eth0;id", "invalid scope"),
    ("ping6", "a;b", "not an IPv6 address or a host name"),
])
def test_bad_addresses_are_refused(tool, address, why):
    with pytest.raises(DiagnosticError, match=re.escape(why)):
        request([tool, address])


def test_exit_status_of_a_tools_parse_error():
    assert exit_status(ToolExit("x", 1)) == 1 and exit_status(ToolExit("x", 3)) == 3
    assert exit_status(DiagnosticError("x")) == 2


def test_host_name_rules():
    assert is_host_name("a") and is_host_name("0a.example") and is_host_name("1password.com")
    assert not is_host_name("example.123") and not is_host_name("_x.com")


# --- PARAMS: injection and option smuggling ----------------------------------------------------

@pytest.mark.parametrize("smuggled", [
    ["; rm -rf /"], [";", "rm", "-rf", "/"], ["$(touch /tmp/x)"], ["`touch /tmp/x`"],
    ["|", "id"], ["&"], ["-c", "1\n-f"], ["-c\n1"], ["-c", "1 -f"], ["-I", "eth0;id"],
    ["-s", "../x"], [">", "/etc/passwd"], ["-c", "é"], ["-c", ""], ["-c", "1\x00"],
])
def test_injection_attempts_are_refused(smuggled):
    with pytest.raises(DiagnosticError):
        request(["ping", "127.0.0.1", *smuggled])


@pytest.mark.parametrize("tool,args,why", [
    ("ping", ["-f"], "option -f is not allowed"),  # flood
    ("ping", ["-f", "/etc/shadow"], "refused"),
    ("arping", ["-f", "/etc/shadow"], "refused"),  # arping's -f takes no file: '/' refused
    ("arping", ["-I", "eth0", "-f", "etc.shadow"], "unexpected argument 'etc.shadow'"),
    ("ping", ["-nf"], "option -f is not allowed"),
    ("ping", ["-p", "ff"], "option -p is not allowed"),
    ("ping", ["-l", "3"], "option -l is not allowed"),
    ("ping", ["--", "-c"], "option '--' is not allowed"),
    ("ping", ["-"], "option '-' is not allowed"),
    ("ping", ["-c"], "option -c needs a value"),
    ("ping", ["8.8.8.8"], "unexpected argument '8.8.8.8'"),
    ("traceroute", ["60", "70"], "unexpected argument '60'"),
    ("traceroute", ["-F"], "option -F is not allowed"),
    ("arping", ["-V"], "option -V is not allowed"),
    ("ping6", ["-4"], "option -4 is not allowed"),
])
def test_undocumented_options_and_extra_operands_are_refused(tool, args, why):
    address = "::1" if tool.endswith("6") else "127.0.0.1"
    with pytest.raises(DiagnosticError, match=re.escape(why)):
        request([tool, address, *args])


@pytest.mark.parametrize("tool,args", [
    ("ping", ["-c", "2", "-i", "0.2", "-W", "1", "-w", "3", "-s", "100", "-I", "lo", "-t", "9"]),
    ("ping", ["-nqc2"]), ("ping", ["-c2", "-nq"]), ("ping", ["-D", "-4"]),
    ("ping6", ["-6", "-c", "1"]),
    ("arping", ["-I", "eth0", "-c", "2", "-w", "3", "-i", "1", "-s", "198.18.1.2", "-f"]),
    ("arping", ["-DUAbq", "-I", "eth0"]),
    ("traceroute", ["-n", "-I", "-T", "-m", "5", "-q", "1", "-N", "4", "-w", "2", "-f", "2"]),
    ("traceroute", ["-i", "eth0", "-s", "198.18.1.2", "60"]),  # packet length operand
])
def test_documented_options_pass(tool, args):
    address = "::1" if tool.endswith("6") else "127.0.0.1"
    check_options(TOOLS[tool], [address, *args])


def test_an_option_value_may_look_like_an_option():
    # getopt gives `-I` the next argument whatever it is; the tool's parse() judges the value.
    check_options(TOOLS["ping"], ["127.0.0.1", "-I", "-f"])


# --- vrmonitor diag: lazy dispatch, family, exit code ------------------------------------------

def stub_tool(calls: list, code: int = 0, refuse: str | None = None) -> types.ModuleType:
    module = types.ModuleType("stub_tool")

    def parse(argv, family=None):
        if refuse:
            raise DiagnosticError(refuse)
        return argv

    def run_main(argv, family=None, stdout=None, stderr=None):
        parse(argv, family)
        calls.append((list(argv), family))
        stdout.write("stub output\n")
        return code

    module.parse, module.main = parse, run_main
    return module


@pytest.mark.parametrize("tool,family", [("ping", 4), ("ping6", 6), ("traceroute", 4),
                                         ("traceroute6", 6), ("arping", None)])
def test_diag_dispatches_to_the_tool_with_options_before_and_after(tool, family, monkeypatch, capsys):
    calls = []
    monkeypatch.setitem(sys.modules, TOOLS[tool].module, stub_tool(calls, code=3))
    assert main(["diag", tool, "-n", "192.0.2.1", "-c", "1"]) == 3
    assert calls == [(["-n", "192.0.2.1", "-c", "1"], family)]
    assert capsys.readouterr().out == "stub output\n"


def test_diag_reports_the_tools_usage_error_with_exit_2(monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, TOOLS["ping"].module,
                        stub_tool([], refuse="ping: invalid argument: 'x'"))
    assert main(["diag", "ping", "127.0.0.1", "-c", "x"]) == 2
    assert capsys.readouterr().err == "ping: invalid argument: 'x'\n"


def test_diag_refuses_an_unknown_tool(capsys):
    with pytest.raises(SystemExit) as exited:
        main(["diag", "nslookup", "127.0.0.1"])
    assert exited.value.code == 2


def test_vrmonitor_start_up_and_validation_do_not_import_scapy():
    import subprocess

    probe = ("import sys\nfrom vrmonitor.cli import main\n"
             "import vrmonitor.commands.diag, vrmonitor.diagnostics.validate\n"
             "import vrmonitor.compat.diagnostics, vrmonitor.diagnostics.collect\n"
             "try:\n    main(['--version'])\nexcept SystemExit:\n    pass\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] == 'scapy'))")
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.stdout.splitlines()[-1] == "[]", done.stderr

