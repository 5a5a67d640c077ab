"""traceroute's printing, flags, sizes, command line and scheduling rules, without a network.

The expected texts follow Butskoy traceroute 2.1.2 (print_probe, parse_icmp_res, clif); the
side-by-side comparison with the real tool is tests/integration/test_diag_traceroute.py.
"""

import io
import re
import socket
import time

import pytest

from vrmonitor.diagnostics import traceroute as tr
from vrmonitor.diagnostics.toolkit import ToolExit, c_strtod, c_strtoul
from vrmonitor.diagnostics.traceroute import Probe, probe_text

A, B = "198.18.1.1", "198.18.2.2"
TIME = re.compile(r"  \d+\.\d{3} ms")


def numeric(address: str) -> str:
    return f" {address}"


def answered(address, rtt_ms=0.5, err="", final=False, ttl=0) -> Probe:
    return Probe(done=True, final=final, send_time=10.0, recv_time=10.0 + rtt_ms / 1000,
                 address=address, err_str=err, recv_ttl=ttl)


def expired() -> Probe:
    return Probe(done=True, send_time=10.0)


def hop_text(probes, per_hop, name_of=numeric, back=False) -> str:
    return "".join(probe_text(probes, i, per_hop, name_of, back) for i in range(len(probes)))


def test_one_hop_three_answers_from_one_address():
    probes = [answered(A, 0.512), answered(A, 0.47), answered(A, 0.4556)]
    assert hop_text(probes, 3) == f"\n 1  {A}  0.512 ms  0.470 ms  0.456 ms"


def test_address_printed_again_only_when_it_changes():
    probes = [answered(A), answered(B), answered(B)]
    assert hop_text(probes, 3) == f"\n 1  {A}  0.500 ms {B}  0.500 ms  0.500 ms"


def test_timeouts_and_the_skip_expired_rule():
    assert hop_text([expired(), expired(), expired()], 3) == "\n 1  * * *"
    # after a star, the address is printed when no earlier probe of the hop answered ...
    assert hop_text([expired(), answered(A), expired()], 3) == f"\n 1  * {A}  0.500 ms *"
    # ... and not when the last answered one had the same address
    assert hop_text([answered(A), expired(), answered(A)], 3) == \
        f"\n 1  {A}  0.500 ms *  0.500 ms"
    assert hop_text([answered(A), expired(), answered(B)], 3) == \
        f"\n 1  {A}  0.500 ms * {B}  0.500 ms"


def test_hop_numbers_are_two_wide():
    probes = [expired() for _ in range(12)] + [answered(A)]
    text = hop_text(probes, 1)
    assert text.startswith("\n 1  *\n 2  *")
    assert "\n10  *\n11  *\n12  *\n13  " in text
    assert probe_text([expired()] * 100 + [answered(A)], 100, 1, numeric) == f"\n101  {A}  0.500 ms"


def test_flags_follow_the_time():
    probes = [answered(A, 0.028, "!N", final=True)]
    assert hop_text(probes, 1) == f"\n 1  {A}  0.028 ms !N"
    probes = [answered(B, 3.01, "!X", True), answered(B, 3.002, "!X", True)]
    assert hop_text(probes, 2) == f"\n 1  {B}  3.010 ms !X  3.002 ms !X"


def test_local_error_has_no_address():
    probe = Probe(done=True, final=True, send_time=5.0, recv_time=5.0001, err_str="!F-1500")
    assert probe_text([probe], 0, 1, numeric) == "\n 1  *  0.100 ms !F-1500"


def test_names_as_name_and_address():
    def named(address):
        return f" router.example ({address})"

    probes = [answered(A), answered(A)]
    assert hop_text(probes, 2, named) == f"\n 1  router.example ({A})  0.500 ms  0.500 ms"


def test_back_prints_the_guessed_backward_hops_when_they_differ():
    probes = [answered(A, ttl=64), answered(B, ttl=61)]
    assert hop_text(probes, 1, back=True) == f"\n 1  {A}  0.500 ms\n 2  {B} '-4'  0.500 ms"
    # a different reply TTL makes the address print again within the hop
    probes = [answered(A, ttl=64), answered(A, ttl=63)]
    assert hop_text(probes, 2, back=True) == f"\n 1  {A}  0.500 ms {A} '-2'  0.500 ms"
    assert hop_text(probes, 2, back=False) == f"\n 1  {A}  0.500 ms  0.500 ms"


def test_ttl2hops():
    assert [tr.ttl2hops(ttl) for ttl in (64, 63, 128, 120, 255, 250)] == [1, 2, 1, 9, 1, 6]


def test_header():
    options = tr.TracerouteOptions(host="far.example", address=B, family=socket.AF_INET,
                                   max_hops=20)
    assert tr.header_text(options, 60) == \
        f"traceroute to far.example ({B}), 20 hops max, 60 byte packets"


@pytest.mark.parametrize("family, kind, code, info, flag", [
    (socket.AF_INET, 11, 0, 0, None),  # time exceeded in transit: an intermediate hop
    (socket.AF_INET, 11, 1, 0, "!<11-1>"),
    (socket.AF_INET, 3, 3, 0, ""),  # port unreachable: reached, no flag
    (socket.AF_INET, 3, 0, 0, "!N"),
    (socket.AF_INET, 3, 1, 0, "!H"),
    (socket.AF_INET, 3, 2, 0, "!P"),
    (socket.AF_INET, 3, 4, 1400, "!F-1400"),
    (socket.AF_INET, 3, 5, 0, "!S"),
    (socket.AF_INET, 3, 6, 0, "!N"),
    (socket.AF_INET, 3, 7, 0, "!H"),
    (socket.AF_INET, 3, 9, 0, "!X"),
    (socket.AF_INET, 3, 10, 0, "!X"),
    (socket.AF_INET, 3, 13, 0, "!X"),
    (socket.AF_INET, 3, 14, 0, "!V"),
    (socket.AF_INET, 3, 15, 0, "!C"),
    (socket.AF_INET, 3, 16, 0, "!<16>"),
    (socket.AF_INET, 12, 0, 0, "!<12-0>"),
    (socket.AF_INET6, 3, 0, 0, None),
    (socket.AF_INET6, 1, 0, 0, "!N"),
    (socket.AF_INET6, 1, 1, 0, "!X"),
    (socket.AF_INET6, 1, 3, 0, "!H"),
    (socket.AF_INET6, 1, 4, 0, ""),
    (socket.AF_INET6, 1, 5, 0, "!<5>"),
    (socket.AF_INET6, 2, 0, 1280, "!F-1280"),
    (socket.AF_INET6, 4, 0, 0, "!<4-0>"),
])
def test_icmp_flags(family, kind, code, info, flag):
    assert tr.icmp_flag(family, kind, code, info) == flag


@pytest.mark.parametrize("method, family, packet_len, total", [
    ("default", socket.AF_INET, -1, 60),
    ("icmp", socket.AF_INET, -1, 60),
    ("tcp", socket.AF_INET, -1, 60),
    ("default", socket.AF_INET6, -1, 80),
    ("icmp", socket.AF_INET6, -1, 80),
    ("tcp", socket.AF_INET6, 150, 80),  # tcp ignores packetlen
    ("default", socket.AF_INET, 100, 100),
    ("default", socket.AF_INET, 10, 28),  # too small: the headers alone
    ("icmp", socket.AF_INET, 10, 28),  # ICMP keeps its 8-byte header
    ("default", socket.AF_INET6, 150, 150),
])
def test_packet_lengths(method, family, packet_len, total):
    options = tr.TracerouteOptions(method=method, family=family, packet_len=packet_len)
    assert sum(tr.packet_length(options)) == total


@pytest.mark.parametrize("text, value, used", [
    ("30", 30, 2), ("0x10", 16, 4), ("010", 8, 3), ("0", 0, 1), (" 7", 7, 2), ("+3", 3, 2),
    ("-1", 2**64 - 1, 2), ("12ab", 12, 2), ("x", 0, 0), ("", 0, 0), ("0x", 0, 1),
    ("99999999999999999999999", 2**64 - 1, 23),
])
def test_strtoul(text, value, used):
    assert c_strtoul(text) == (value, used)


@pytest.mark.parametrize("text, value, used", [
    ("5", 5.0, 1), ("0.5,3", 0.5, 3), ("1e2", 100.0, 3), ("1e", 1.0, 1), (".5", 0.5, 2),
    ("-1", -1.0, 2), ("x", 0.0, 0), ("0x1p4", 16.0, 5), ("inf", float("inf"), 3),
])
def test_strtod(text, value, used):
    assert c_strtod(text) == (value, used)


def parsed(*argv, family=4):
    return tr.parse(list(argv), family=family)


def test_parse_defaults_and_numeric_host():
    options = parsed("198.18.2.2")
    assert (options.host, options.address, options.family) == ("198.18.2.2", B, socket.AF_INET)
    assert (options.max_hops, options.probes_per_hop, options.sim_probes) == (30, 3, 16)
    assert (options.wait, options.here, options.near, options.method) == (5.0, 3.0, 10.0, "default")


def test_parse_wait_alone_clears_here_and_near():
    options = parsed("-w", "1", B)
    assert (options.wait, options.here, options.near) == (1.0, 0.0, 0.0)
    options = parsed("-w", "2.5,4", B)
    assert (options.wait, options.here, options.near) == (2.5, 4.0, 0.0)
    options = parsed("--wait=1,2,3", B)
    assert (options.wait, options.here, options.near) == (1.0, 2.0, 3.0)


def test_parse_groups_joins_and_long_options():
    options = parsed("-nI", "-q1", "--max-hops=7", "-m", "0x10", B, "-f", "2")
    assert options.numeric and options.method == "icmp"
    assert (options.probes_per_hop, options.max_hops, options.first_hop) == (1, 16, 2)
    assert parsed("-T", B).method == "tcp"
    assert parsed("-M", "icmp", B).method == "icmp"
    assert parsed("-p", "http", B).port == 80  # a service name, as getservbyname() says
    assert parsed(B, "100").packet_len == 100
    assert parsed("--", B).host == B


def test_parse_sport_and_sendwait():
    options = parsed("--sport=5000", B)
    assert (options.src_port, options.sim_probes, options.here, options.near) == (5000, 1, 0, 0)
    assert parsed("-z", "50", B).send_wait == pytest.approx(0.05)  # > 10: milliseconds
    assert parsed("-z", "0.5", B).send_wait == 0.5


def test_parse_families():
    assert parsed("fd18:2::2").family == socket.AF_INET6
    assert parsed("fd18:2::2", family=6).family == socket.AF_INET6
    assert parsed("-4", B, family=6).family == socket.AF_INET
    with pytest.raises(ToolExit) as refused:
        parsed(B, family=6)
    assert str(refused.value) == (f"{B}: Address family for hostname not supported\n"
                                  f"Cannot handle \"host\" cmdline arg `{B}' on position 1 "
                                  "(argc 1)")


def test_parse_without_resolving():
    options = tr.parse(["-n", "some.name"], resolve=False)
    assert (options.host, options.address) == ("some.name", "")


@pytest.mark.parametrize("argv, message", [
    (["-Z", B], "Bad option `-Z' (argc 1)"),
    (["-m"], "Option `-m' (argc 1) requires an argument: `-m max_ttl'"),
    (["-q", "x", B], "Cannot handle `-q' option with arg `x' (argc 2)"),
    (["-mx", B], "Cannot handle `-m' option with arg `x' (argc 1)"),
    (["-nm3", B], "Option `-m' (argc 1) requires an argument: `-m max_ttl'"),
    (["--first", B], "Option `--first' (argc 1) requires an argument: `--first=first_ttl'"),
    (["--nope=1", B], "Bad option `--nope=1' (with arg `1') (argc 1)"),
    (["--icmp=1", B], "Bad option `--icmp=1' (with arg `1') (argc 1)"),
    (["-n"], 'Specify "host" missing argument.'),
    ([B, "60", "x"], "Extra arg `x' (position 3, argc 3)"),
    ([B, "x"], "Cannot handle \"packetlen\" cmdline arg `x' on position 2 (argc 2)"),
    (["-f", "0", B], "first hop out of range"),
    (["-f", "31", B], "first hop out of range"),
    (["-m", "-1", B], "max hops cannot be more than 255"),
    (["-q", "11", B], "no more than 10 probes per hop"),
    (["-w", "1,-2", B], "bad wait specifications `1,-2,0' used"),
    (["-w", "1,2,3,", B], "Cannot handle `-w' option with arg `1,2,3,' (argc 2)"),
    ([B, "65001"], "too big packetlen 65001 specified"),
    (["-s", B, "fd18:2::2"], "IP version mismatch in addresses specified"),
    (["-z", "-1", B], "bad sendtime `-1' specified"),
    (["-M", "nope", B], "Unknown traceroute module nope"),
    (["-g", B, B], "Option `-g' (argc 1) is not supported by this traceroute (vrmonitor)"),
    (["-U", B], "Option `-U' (argc 1) is not supported by this traceroute (vrmonitor)"),
    (["-UL", B], "Option `-UL' (argc 1) is not supported by this traceroute (vrmonitor)"),
    (["--mtu", B], "Option `--mtu' (argc 1) is not supported by this traceroute (vrmonitor)"),
])
def test_parse_errors(argv, message):
    with pytest.raises(ToolExit) as refused:
        tr.parse(argv)
    assert (str(refused.value), refused.value.status) == (message, 2)


def test_help_and_version_are_actions():
    assert tr.parse([]).action == "help"
    assert tr.parse(["--help", "-Z"]).action == "help"
    assert tr.parse(["-n", "-V"]).action == "version"
    stderr = io.StringIO()
    assert tr.main([], stdout=io.StringIO(), stderr=stderr) == 0
    assert stderr.getvalue().startswith("Usage:\n  traceroute [ -46dFITnr ]")


# -- the scheduler: get_timeout, check_expired ----------------------------------------------

def tracer(per_hop=1, hops=5, **options) -> tr.Traceroute:
    options = tr.TracerouteOptions(host=B, address=B, family=socket.AF_INET,
                                   probes_per_hop=per_hop, max_hops=hops, **options)
    return tr.Traceroute(options, io.StringIO(), io.StringIO())


def test_get_timeout_here_near_and_max():
    run = tracer(per_hop=2, wait=5.0, here=3.0, near=10.0)
    run.probes[0] = answered(A, 10)  # 10 ms round trip in the same hop
    run.probes[1] = Probe(send_time=10.0)
    assert run.get_timeout(1) == pytest.approx(3 * 0.011)
    run = tracer(per_hop=2, wait=5.0, here=3.0, near=10.0)
    run.probes[0] = Probe(send_time=10.0)
    run.probes[1] = Probe(send_time=10.0)
    run.probes[2] = answered(B, 20)  # a later hop answered in 20 ms
    assert run.get_timeout(0) == pytest.approx(10 * 0.021)
    run.probes[2] = answered(B, 2000)  # capped by MAX
    assert run.get_timeout(0) == 5.0
    run = tracer(per_hop=2, wait=1.0, here=0.0, near=0.0)  # `-w 1`
    run.probes[0] = answered(A, 10)
    assert run.get_timeout(1) == 1.0


def test_check_expired_moves_an_unreachable_final_back():
    run = tracer()
    run.probes[0] = expired()
    run.probes[1] = answered(B, err="!H", final=True, ttl=64)  # one backward hop: hop 1
    run.check_expired(0)
    assert (run.probes[0].address, run.probes[0].err_str) == (B, "!H")
    assert run.probes[1] == Probe(send_time=1.0)


def test_check_expired_keeps_a_port_unreachable_final_in_place():
    run = tracer()
    run.probes[0] = expired()
    run.probes[1] = answered(B, final=True, ttl=63)
    run.check_expired(0)
    assert run.probes[0].address is None


def test_check_expired_stops_at_a_later_intermediate_hop():
    run = tracer()
    run.probes[0] = expired()
    run.probes[1] = answered(A, ttl=64)
    run.probes[2] = answered(B, err="!H", final=True, ttl=63)
    run.check_expired(0)
    assert run.probes[0].address is None


# -- the whole loop, with a scripted network -------------------------------------------------

class ScriptedSender:
    def __init__(self):
        self.sent = []

    def send(self, probe, ttl):
        probe.send_time = time.monotonic()
        probe.seq = len(self.sent) + 1
        self.sent.append(ttl)


class ScriptedReceiver:
    """Answers each probe sent so far once: `reply(ttl)` -> (address, kind, code) or None."""

    def __init__(self, sender, reply):
        self.sender, self.reply, self.answered = sender, reply, 0

    def wait(self, timeout):
        answers = []
        for seq, ttl in enumerate(self.sender.sent[self.answered:], self.answered + 1):
            answer = self.reply(ttl)
            if answer:
                address, kind, code = answer
                answers.append(tr.Answer(seq, address, time.monotonic(), 64, kind, code))
        self.answered = len(self.sender.sent)
        if not answers:
            time.sleep(min(max(timeout, 0), 0.01))
        return answers


def scripted_run(reply, **options):
    run = tracer(numeric=True, **options)
    sender = ScriptedSender()
    run._loop(sender, ScriptedReceiver(sender, reply))
    return TIME.sub("  <t> ms", run.stdout.getvalue()), sender


def test_loop_stops_after_the_hop_that_reached_the_destination():
    def reply(ttl):
        return (A, 11, 0) if ttl == 1 else (B, 3, 3)

    text, sender = scripted_run(reply, per_hop=3, hops=30, wait=0.05)
    assert text == f"\n 1  {A}  <t> ms  <t> ms  <t> ms\n 2  {B}  <t> ms  <t> ms  <t> ms"
    assert len(sender.sent) == 16  # -N 16: sent together before anything answered


def test_loop_sim_probes_one_sends_one_at_a_time():
    def reply(ttl):
        return (A, 11, 0) if ttl == 1 else (B, 3, 3)

    text, sender = scripted_run(reply, per_hop=2, hops=30, wait=0.05, sim_probes=1)
    assert text.endswith(f"\n 2  {B}  <t> ms  <t> ms")
    assert sender.sent == [1, 1, 2, 2]


def test_loop_runs_to_max_hops_when_nothing_answers():
    text, sender = scripted_run(lambda ttl: None, per_hop=1, hops=3, wait=0.02)
    assert text == "\n 1  *\n 2  *\n 3  *"
    assert sender.sent == [1, 2, 3]


def test_loop_unreachable_ends_the_trace_with_its_flag():
    def reply(ttl):
        return (A, 3, 0) if ttl == 1 else None

    text, _ = scripted_run(reply, per_hop=1, hops=30, wait=0.02)
    assert text == f"\n 1  {A}  <t> ms !N"
