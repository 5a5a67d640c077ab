"""runDiagnostics' arguments (contract 4.1, 4.2) through diagnose(), what diagnostics.py runs.

An audit-hook recorder (tests/fuzz/exec_recorder.py) watches every process start and socket
while the code under test runs, and blocks them. Inputs the contract refuses (a type other than
the five, case-insensitively; a parameter with a character outside the MS's `[\\w\\-\\s.]`; an
address the on-VM validation refuses) must be refused with nothing started. Inputs of an
accepted shape are only validated and parsed, never run: whatever validation accepts must be
something the MS accepts too.
"""

import re

import pytest
from hypothesis import example, given, strategies as st

from tests.fuzz import exec_recorder
from tests.fuzz.hang_guard import no_hang
from tests.fuzz.mutations import TEXT_CHARACTERS
from tests.ms_parsers import Answer, diagnostics
from vrmonitor.compat.diagnostics import EXIT_REFUSED, NAME, diagnose, envelope
from vrmonitor.diagnostics import validate
from vrmonitor.errors import DiagnosticError
from vrmonitor.paths import Paths

pytestmark = [pytest.mark.fuzz]

TYPES = ("ping", "ping6", "traceroute", "traceroute6", "arping")
# The MS's rule (Java regex, ASCII \w and \s) on the parameters as one string.
MS_PARAMS = re.compile(r"[A-Za-z0-9_\-\s.]+", re.ASCII)
MS_WHITESPACE = " \t\n\x0b\f\r"
ADDRESSES = st.sampled_from((
    "127.0.0.1", "::1", "198.18.0.1", "fe80::1%lo", "localhost", "router.local", "127.1",
    "0x7f.1", "2130706433", "-c", "a;b", "$(reboot)", "`id`", "a|b", "a b", "", "::1%$(x)",
    "fe80::1%" + "x" * 20, "x" * 300, "a..b", "-host", "host-", "1.2.3.4.5", "::ffff:127.0.0.1",
)) | st.text(TEXT_CHARACTERS, max_size=12)
PARAM_WORDS = st.sampled_from((
    "-c", "4", "-c5", "-m", "20", "-I", "eth0", "-nq", "-4", "-6", "-f", "-w", "1", "-AbDfhqUV",
    "--back", "-m20", "--sport", ".", "-", "--", "-i", "0.2", "-s", "65507", "-t", "0", "x",
)) | st.from_regex(r"[A-Za-z0-9_.\-]{1,8}", fullmatch=True)
BAD_CHARACTERS = st.sampled_from(tuple(";&|`$()<>'\"\\,*?!{}[]#~=%+:/@^")) | TEXT_CHARACTERS.filter(
    lambda ch: not MS_PARAMS.fullmatch(ch))


def random_case(draw, text: str) -> str:
    return "".join(draw(st.sampled_from((ch.lower(), ch.upper()))) for ch in text)


@pytest.fixture(scope="module")
def recorder():
    return exec_recorder.install()


@pytest.fixture(scope="module")
def paths(tmp_path_factory):
    return Paths(tmp_path_factory.mktemp("diagnostics"))


def checked(argv):
    """What diagnose() checks before it runs anything: (the validated request or None, whether
    the tool's own parse() accepts its final arguments too)."""
    try:
        request = validate.request(argv)
    except DiagnosticError:
        return None, False
    try:
        request.tool.parse(request.argv)
    except DiagnosticError as exc:
        assert str(exc)
        return request, False
    return request, True


def ms_accepts(kind: str, params: list[str]) -> bool:
    joined = " ".join(params)
    return kind.lower() in TYPES and (joined == "" or bool(MS_PARAMS.fullmatch(joined)))


def assert_refused_and_nothing_ran(recorder, paths, argv, names):
    with pytest.raises(DiagnosticError) as refused:
        validate.request(argv)
    assert any(name in str(refused.value) for name in names), (str(refused.value), names)
    with recorder.watching(), no_hang(10, "diagnose"):
        outcome = diagnose(argv, paths)
    assert recorder.events == []
    assert (outcome.stdout, outcome.code) == ("", EXIT_REFUSED)
    assert outcome.stderr == f"{NAME}: {refused.value}"
    seen = diagnostics(Answer.of(envelope(outcome)))  # what runDiagnostics answers
    assert (seen["stdout"], seen["exitcode"]) == ("", str(EXIT_REFUSED))
    assert seen["stderr"].startswith(f"{NAME}: ") and "&&" not in seen["stderr"]


@st.composite
def bad_types(draw):
    kind = draw(st.sampled_from(("pingx", "ping6 ", "trace", "arp", "", "PING;", "nslookup", "sh"))
                | st.text(TEXT_CHARACTERS, max_size=10))
    return None if kind.lower() in TYPES else kind


@given(bad_types(), ADDRESSES, st.lists(PARAM_WORDS, max_size=4))
@example("ping6;", "127.0.0.1", [])
@example("İping", "127.0.0.1", [])
def test_an_unknown_type_runs_nothing(recorder, paths, kind, address, params):
    if kind is None:
        return
    assert_refused_and_nothing_ran(recorder, paths, [kind, address, *params], [repr(kind)])


@given(st.data(), st.sampled_from(TYPES), st.booleans(), st.lists(PARAM_WORDS, max_size=3),
       BAD_CHARACTERS, st.integers(0, 3))
@example(None, "ping", False, ["-I", "eth0"], ";", 2)
@example(None, "arping", False, ["-I", "eth0"], "&", 2)
@example(None, "traceroute", True, [], "\u0661", 0)
def test_a_parameter_the_ms_refuses_runs_nothing(recorder, paths, data, kind, by_name, params,
                                                 bad, at):
    address = "localhost" if by_name else {"ping6": "::1", "traceroute6": "::1"}.get(kind, "127.0.0.1")
    kind = random_case(data.draw, kind) if data is not None else kind
    word = params[at] if at < len(params) else ""
    cut = len(word) // 2
    smuggled = word[:cut] + bad + word[cut:]
    params = params[:at] + [smuggled] + params[at + 1:]
    assert not ms_accepts(kind, params)
    assert_refused_and_nothing_ran(recorder, paths, [kind, address, *params], [repr(smuggled)])


@given(st.sampled_from(TYPES), st.sampled_from((
    "127.1", "0x7f.1", "2130706433", "a;b", "$(reboot)", "`id`", "a|b", "a b", "", "::1%$(x)",
    "x" * 300, "a..b", "-host", "host-", "1.2.3.4.5", "-c", "*", "..")), st.lists(PARAM_WORDS, max_size=2))
def test_an_address_the_vm_refuses_runs_nothing(recorder, paths, kind, address, params):
    assert_refused_and_nothing_ran(recorder, paths, [kind, address, *params], [repr(address), address])


@given(st.data(), st.sampled_from(TYPES), ADDRESSES,
       st.lists(PARAM_WORDS | st.text(st.sampled_from("ab-_.;&| \t9"), max_size=4), max_size=5))
@example(None, "ping", "127.0.0.1", ["-c", "1"])
@example(None, "traceroute", "127.0.0.1", ["-m", "10", "60"])
@example(None, "ping", "127.0.0.1", ["-c 1"])
def test_what_validation_accepts_the_ms_accepts_too(recorder, data, kind, address, params):
    """Validated and parsed only: nothing is run, no name looked up."""
    kind = random_case(data.draw, kind) if data is not None else kind
    argv = [kind, address, *params]
    with recorder.watching(), no_hang(10, "validate"):
        request, _ = checked(argv)
    assert recorder.events == []
    if request is None:
        return
    assert ms_accepts(kind, params), argv
    assert request.tool.name == kind.lower()
    assert not any(ch in MS_WHITESPACE for param in params for ch in param)
    option, value = request.tool.default
    assert option in request.argv and list(request.argv[:len(params) + 1]) == [address, *params]
