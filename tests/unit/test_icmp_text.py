"""The gateways check (diagnostics.icmp) and ping name ICMP errors in the same words: one table,
iputils ping's (issue 16: code 13 once read "Communication prohibited by filter" here)."""

import pytest

from vrmonitor.diagnostics import ping_output
from vrmonitor.diagnostics.icmp import EchoError, EchoSocket


@pytest.mark.parametrize("kind, code", [(3, code) for code in range(16)] + [(11, 0), (11, 1), (11, 7)])
def test_an_echo_error_reads_as_ping_prints_it(kind, code):
    error = EchoError("198.18.0.1", "198.18.0.2", 7, 1, kind, code)
    assert error.text == ping_output.icmp4_text(kind, code)


def test_a_parsed_frag_needed_carries_its_mtu_and_a_filter_reads_packet_filtered():
    from scapy.layers.inet import ICMP, IP, ICMPerror, IPerror

    receiver = object.__new__(EchoSocket)  # no raw socket: only the parser is exercised
    receiver.ident = 0x4242

    def error(code, **fields):
        quoted = IPerror(src="198.18.0.9", dst="198.18.0.2") / ICMPerror(type=8, id=0x4242, seq=3)
        return bytes(IP(src="198.18.0.1", dst="198.18.0.9") / ICMP(type=3, code=code, **fields) / quoted)

    frag = receiver._parse(error(4, nexthopmtu=1400), 0.0)
    assert (frag.info, frag.text, frag.target, frag.seq) == (1400, "Frag needed and DF set (mtu = 1400)", "198.18.0.2", 3)
    assert receiver._parse(error(13), 0.0).text == "Packet filtered"
