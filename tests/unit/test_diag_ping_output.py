"""ping's text, figure by figure, and its command line: pure functions, no network.

The expected strings come from Debian 12's iputils ping (3:20221126) on this machine: the rtt
lines below were printed by the real tool for the reply times listed with them.
"""

import socket

import pytest

from vrmonitor.diagnostics import ping_output as out
from vrmonitor.diagnostics.ping import parse
from vrmonitor.diagnostics.toolkit import ToolExit
from vrmonitor.errors import DiagnosticError

# ---- reply times ---------------------------------------------------------------------------

@pytest.mark.parametrize("microseconds,text", [
    (0, "0.000"), (45, "0.045"), (412, "0.412"), (999, "0.999"),  # < 1 ms: 3 decimals
    (1000, "1.00"), (1234, "1.23"), (1235, "1.24"), (9994, "9.99"),  # < 10 ms: 2, rounded
    (9995, "10.0"), (12345, "12.3"), (99949, "99.9"),  # < 100 ms: 1
    (99950, "100"), (123456, "123"), (1234567, "1235"),  # whole milliseconds
])
def test_reply_time_precision(microseconds, text):
    assert out.format_rtt(microseconds) == text


# ---- loss ----------------------------------------------------------------------------------

@pytest.mark.parametrize("sent,received,text", [
    (4, 4, "0"), (4, 3, "25"), (3, 2, "33.3333"), (3, 1, "66.6667"), (1, 0, "100"),
    (7, 1, "85.7143"), (8, 7, "12.5"), (1000, 999, "0.1"),
])
def test_loss_is_percent_g_of_a_float(sent, received, text):
    assert out.format_loss(sent, received) == text


def test_elapsed_rounds_to_the_millisecond():
    assert [out.elapsed_ms(n) for n in (0, 499_999, 500_000, 2_031_400_000)] == [0, 0, 1, 2031]


# ---- rtt line: min/avg/max and ping's mdev ---------------------------------------------------

def stats_of(times, duplicates=()):
    stats = out.Statistics()
    for seq, triptime in enumerate(times, 1):
        stats.sent()
        assert not stats.reply(seq, triptime)
        if seq in duplicates:
            assert stats.reply(seq, triptime)
    return stats


@pytest.mark.parametrize("times,line", [
    ([360, 49, 56], "0.049/0.155/0.360/0.144"),
    ([412, 389, 401], "0.389/0.400/0.412/0.009"),
    ([27, 3, 2, 2, 1, 2, 1], "0.001/0.005/0.027/0.008"),  # ping's mdev, not the textbook one
    ([9, 2, 2, 2, 3, 1, 1], "0.001/0.002/0.009/0.002"),
    ([32], "0.032/0.032/0.032/0.000"),
    ([7881, 251410, 6470], "6.470/88.587/251.410/115.134"),
])
def test_rtt_summary(times, line):
    assert stats_of(times).rtt_summary() == f"rtt min/avg/max/mdev = {line} ms"


def test_duplicates_count_in_the_rtt_but_not_as_received():
    """Real run: seq 1 and 2 came twice (0.664, 0.067 then 0.068), seq 3 once (0.094)."""
    stats = out.Statistics()
    for seq, times in ((1, [664, 664]), (2, [67, 68]), (3, [94])):
        stats.sent()
        for triptime in times:
            stats.reply(seq, triptime)
    assert (stats.received, stats.duplicates) == (3, 2)
    assert stats.summary("198.18.2.2", 408_000_000) == (
        "\n--- 198.18.2.2 ping statistics ---\n"
        "3 packets transmitted, 3 received, +2 duplicates, 0% packet loss, time 408ms\n"
        "rtt min/avg/max/mdev = 0.067/0.311/0.664/0.288 ms\n")


def test_llsqrt_is_pings_newton_not_the_floor():
    assert [out.llsqrt(n) for n in (0, 1, 3, 4, 8, 9, 15, 16, 21020)] == [0, 1, 2, 2, 3, 3, 4, 4, 144]


# ---- the statistics block ---------------------------------------------------------------------

def test_summary_without_replies_ends_with_an_empty_line():
    stats = out.Statistics()
    stats.sent(), stats.sent()
    assert stats.summary("10.1.1.99", 1_031_000_000) == (
        "\n--- 10.1.1.99 ping statistics ---\n"
        "2 packets transmitted, 0 received, 100% packet loss, time 1031ms\n\n")
    assert stats.exit_status(count=2, deadline=0) == 1


def test_errors_and_pipe():
    """Four probes to an absent on-link host: the kernel's four errors come back together."""
    stats = out.Statistics()
    for _ in range(4):
        stats.sent()
    for seq in range(1, 5):
        stats.acknowledge(seq)
        stats.errors += 1
    assert stats.summary("198.18.1.99", 1_526_000_000) == (
        "\n--- 198.18.1.99 ping statistics ---\n"
        "4 packets transmitted, 0 received, +4 errors, 100% packet loss, time 1526ms\n"
        "pipe 4\n")


def test_pipe_follows_the_rtt_line():
    stats = out.Statistics()
    stats.sent(), stats.sent()
    stats.reply(1, 1500)
    stats.reply(2, 500)
    assert stats.summary("h", 1000).splitlines()[-1] == (
        "rtt min/avg/max/mdev = 0.500/1.000/1.500/0.500 ms, pipe 2")


def test_no_time_below_16_data_bytes_no_rtt_line():
    stats = out.Statistics(timing=False)
    stats.sent()
    stats.reply(1, None)
    assert stats.summary("h", 0).endswith("1 packets transmitted, 1 received, 0% packet loss, "
                                          "time 0ms\n\n")


def test_interval_zero_adds_ipg_ewma():
    """Real run of `ping -c 2 -i 0 127.0.0.1`: 0.022 and 0.002 ms, probes 78 us apart."""
    stats = out.Statistics(interval_ms=0)
    stats.sent()
    stats.reply(1, 22)
    stats.sent()
    stats.reply(2, 2)
    assert stats.summary("127.0.0.1", 78_400).splitlines()[-1] == (
        "rtt min/avg/max/mdev = 0.002/0.012/0.022/0.010 ms, ipg/ewma 0.078/0.019 ms")


def test_nothing_sent():
    assert out.Statistics().summary("h", 0) == (
        "\n--- h ping statistics ---\n0 packets transmitted, 0 received\n\n")


@pytest.mark.parametrize("received,count,deadline,status", [
    (1, 4, 0, 0), (0, 4, 0, 1), (3, 4, 10, 1), (4, 4, 10, 0), (2, 0, 5, 0),
])
def test_exit_status(received, count, deadline, status):
    stats = out.Statistics(received=received)
    assert stats.exit_status(count, deadline) == status


# ---- lines --------------------------------------------------------------------------------------

def test_headers():
    assert out.header4("10.1.1.1", "10.1.1.1", 56) == "PING 10.1.1.1 (10.1.1.1) 56(84) bytes of data.\n"
    assert out.header4("localhost", "127.0.0.1", 100, "127.0.0.1", "lo") == (
        "PING localhost (127.0.0.1) from 127.0.0.1 lo: 100(128) bytes of data.\n")
    assert out.header4("h", "10.0.0.1", 56, "10.0.0.2") == (
        "PING h (10.0.0.1) from 10.0.0.2 : 56(84) bytes of data.\n")
    assert out.header6("fd18:2::2", "fd18:2::2", 56) == "PING fd18:2::2(fd18:2::2) 56 data bytes\n"
    assert out.header6("fd18:2::2", "fd18:2::2", 56, "fd18:1::2", "h0") == (
        "PING fd18:2::2(fd18:2::2) from fd18:1::2 h0: 56 data bytes\n")


def test_reply_lines():
    assert out.reply_line(64, "10.1.1.1", 1, 64, 412) == (
        "64 bytes from 10.1.1.1: icmp_seq=1 ttl=64 time=0.412 ms\n")
    assert out.reply_line(64, "localhost (127.0.0.1)", 2, 64, 15, duplicate=True) == (
        "64 bytes from localhost (127.0.0.1): icmp_seq=2 ttl=64 time=0.015 ms (DUP!)\n")
    assert out.reply_line(8, "10.1.1.1", 1, 63, None) == "8 bytes from 10.1.1.1: icmp_seq=1 ttl=63\n"
    assert out.reply_line(20, "10.1.1.1", 1, 63, 5, truncated=True) == (
        "20 bytes from 10.1.1.1: icmp_seq=1 ttl=63 (truncated)\n")
    assert out.reply_line(64, "h", 1, 64, 5, prefix="[1.000001] ").startswith("[1.000001] 64 bytes")


def test_error_lines_and_texts():
    assert out.error_line("10.1.1.5", 3, out.icmp4_text(3, 1)) == (
        "From 10.1.1.5 icmp_seq=3 Destination Host Unreachable\n")
    assert out.icmp4_text(3, 0) == "Destination Net Unreachable"
    assert out.icmp4_text(3, 3) == "Destination Port Unreachable"
    assert out.icmp4_text(3, 4, 1400) == "Frag needed and DF set (mtu = 1400)"
    assert out.icmp4_text(3, 13) == "Packet filtered"
    assert out.icmp4_text(3, 42) == "Dest Unreachable, Bad Code: 42"
    assert out.icmp4_text(11, 0) == "Time to live exceeded"
    assert out.icmp6_text(1, 0) == "Destination unreachable: No route"
    assert out.icmp6_text(1, 3) == "Destination unreachable: Address unreachable"
    assert out.icmp6_text(3, 0) == "Time exceeded: Hop limit"
    assert out.icmp6_text(2, 0, 1280) == "Packet too big: mtu=1280"


def test_timestamp_prefix():
    assert out.timestamp_prefix(1795222984.854345) == "[1795222984.854345] "


# ---- the command line (pure: parse() does no I/O) ----------------------------------------------

def test_options_before_and_after_the_address_and_combined():
    for argv in (["-c", "4", "10.1.1.1"], ["10.1.1.1", "-c", "4"], ["-c4", "10.1.1.1"],
                 ["10.1.1.1", "-c4"]):
        options = parse(argv)
        assert (options.count, options.target) == (4, "10.1.1.1")
    options = parse(["-nqc", "2", "-i0.2", "-W", "1", "-w", "5", "-s", "100", "-t", "3",
                     "-I", "eth0", "h", "-D"])
    assert (options.numeric, options.quiet, options.count, options.interval_ms,
            options.linger_ms, options.deadline, options.datalen, options.ttl,
            options.device, options.timestamps) == (True, True, 2, 200, 1000, 5, 100, 3,
                                                     "eth0", True)
    assert parse(["-c", "1", "--", "-x"]).target == "-x"


def test_defaults_and_families():
    options = parse(["10.1.1.1"])
    assert (options.count, options.interval_ms, options.linger_ms, options.deadline,
            options.datalen, options.ttl, options.prog, options.family) == (
        0, 1000, 10000, 0, 56, None, "ping", socket.AF_UNSPEC)
    assert parse(["::1"], family=6).family == socket.AF_INET6
    assert parse(["-4", "h"]).family == socket.AF_INET
    assert parse(["::1"], family=6).prog == "ping6"


def test_interface_option_is_a_device_or_a_source():
    assert (parse(["-I", "10.0.0.2", "h"]).source, parse(["-I", "10.0.0.2", "h"]).device) == (
        "10.0.0.2", None)
    assert parse(["-I", "fe80::1%eth0", "h"]).device == "eth0"
    assert parse(["-I", "fe80::1%eth0", "h"]).source == "fe80::1"


@pytest.mark.parametrize("argv,text,status", [
    (["-c", "x", "h"], "ping: invalid argument: 'x'\n", 1),
    (["-c", "0", "h"], "ping: invalid argument: '0': out of range: 1 <= value <= 9223372036854775807\n", 1),
    (["-c", "99999999999999999999", "h"],
     "ping: invalid argument: '99999999999999999999': Numerical result out of range\n", 1),
    (["-s", "-1", "h"], "ping: invalid argument: '-1': out of range: 0 <= value <= 2147483647\n", 1),
    (["-t", "256", "h"], "ping: invalid argument: '256': out of range: 0 <= value <= 255\n", 1),
    (["-w", "1.5", "h"], "ping: invalid argument: '1.5'\n", 1),
    (["-W", "-1", "h"], "ping: bad linger time: -1\n", 2),
    (["-i", "3000000", "h"], "ping: bad timing interval: 3000000\n", 2),
    (["-i", "inf", "h"], "ping: bad timing interval: inf: Numerical result out of range\n", 2),
    (["-i", "1e400", "h"], ("ping: option argument contains garbage: \n"
                            "ping: this will become fatal error in the future\n"
                            "ping: bad timing interval: 1e400: Numerical result out of range\n"), 2),
    (["-4", "-6", "h"], "ping: only one -4 or -6 option may be specified\n", 2),
    (["-4", "h"], None, None),
    (["-c", "1"], "ping: usage error: Destination address required\n", 1),
    (["-I", "fe80::zz", "h"], "ping: invalid source address: fe80::zz\n", 2),
    (["-f", "h"], "ping: option -f is not supported by vrmonitor\n", 2),
])
def test_command_line_errors(argv, text, status):
    if text is None:
        parse(argv)
        return
    with pytest.raises(ToolExit) as caught:
        parse(argv)
    assert (caught.value.text, caught.value.status) == (text, status)
    assert isinstance(caught.value, DiagnosticError)
    assert str(caught.value) == text.rstrip("\n")


def test_unknown_option_and_missing_argument_print_the_usage():
    with pytest.raises(ToolExit) as caught:
        parse(["-Z", "h"])
    assert caught.value.text == "ping: invalid option -- 'Z'\n" + out.USAGE
    assert caught.value.status == 2
    with pytest.raises(ToolExit) as caught:
        parse(["h", "-c"], family=6)
    assert caught.value.text == "ping6: option requires an argument -- 'c'\n" + out.USAGE
    with pytest.raises(ToolExit) as caught:
        parse(["-h"])
    assert (caught.value.text, caught.value.status) == (out.USAGE, 2)
    assert out.USAGE.startswith("\nUsage\n  ping [options] <destination>\n")
    assert out.USAGE.endswith("\nFor more details see ping(8).\n")


def test_garbage_after_a_number_is_a_warning():
    options = parse(["-i", "0.5x", "h"])
    assert options.interval_ms == 500
    assert options.warnings == ("ping: option argument contains garbage: x",
                                "ping: this will become fatal error in the future")
    assert parse(["-i", "x", "h"]).interval_ms == 0
    assert parse(["-i", " 0x1p-1", "h"]).interval_ms == 500
    assert parse(["-c", " +3", "h"]).count == 3
    with pytest.raises(ToolExit) as caught:
        parse(["-i", "0.5x", "-c", "y", "h"])
    assert caught.value.text.startswith("ping: option argument contains garbage: x\n")
    assert caught.value.text.endswith("ping: invalid argument: 'y'\n")


def test_version_stops_reading_options():
    assert parse(["-V", "-Z"]).version
