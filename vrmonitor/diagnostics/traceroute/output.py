"""What traceroute prints: a probe's state and its text (print_probe), the header, the flag an
ICMP answer earns (parse_icmp_res). Pure functions: no sockets, no clock.
"""

import socket
from dataclasses import dataclass

from vrmonitor.diagnostics.traceroute.cli import TracerouteOptions

ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH = 0, 3, 4
ICMP_REDIRECT, ICMP_ECHO, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB = 5, 8, 11, 12
ICMP6_DST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED = 1, 2, 3
ICMP6_PARAM_PROB, ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 4, 128, 129

UNREACH_FLAGS_4 = {0: "!N", 6: "!N", 8: "!N", 11: "!N", 1: "!H", 7: "!H", 12: "!H",
                   9: "!X", 10: "!X", 13: "!X", 3: "", 2: "!P", 5: "!S", 14: "!V", 15: "!C"}
UNREACH_FLAGS_6 = {0: "!N", 2: "!H", 3: "!H", 1: "!X", 4: ""}


@dataclass
class Probe:
    """One probe's state, as traceroute's `probe` struct."""

    done: bool = False
    final: bool = False
    send_time: float = 0.0  # monotonic seconds; 0: not sent
    recv_time: float = 0.0
    address: str | None = None  # who answered (numeric); None: nobody (` *`)
    recv_ttl: int = 0
    err_str: str = ""
    seq: int = 0  # what identifies its answers (port, echo seq, TCP seq); 0 once done


def ttl2hops(ttl: int) -> int:
    return (65 if ttl <= 64 else 129 if ttl <= 128 else 256) - ttl


def probe_text(probes: list[Probe], index: int, per_hop: int, name_of, back: bool = False) -> str:
    """print_probe(): the text traceroute prints for probe `index` (hop prefix included when it
    is the first of its hop). name_of(address) gives ` ip` or ` name (ip)`."""
    probe = probes[index]
    ttl = index // per_hop + 1
    position = index % per_hop
    parts = []
    if position == 0:
        parts.append(f"\n{ttl:2d} ")
    if probe.address is None:
        parts.append(" *")
    else:
        show = position == 0
        if position:
            previous = index - 1
            while position and probes[previous].address is None:
                previous -= 1
                position -= 1
            if (not position or probes[previous].address != probe.address
                    or (back and probes[previous].recv_ttl != probe.recv_ttl)):
                show = True
        if show:
            parts.append(name_of(probe.address))
            if back and probe.recv_ttl:
                hops = ttl2hops(probe.recv_ttl)
                if hops != ttl:
                    parts.append(f" '-{hops}'")
    if probe.recv_time:
        parts.append(f"  {(probe.recv_time - probe.send_time) * 1000:.3f} ms")
    if probe.err_str:
        parts.append(f" {probe.err_str}")
    return "".join(parts)


def header_text(options: TracerouteOptions, packet_len: int) -> str:
    """print_header(), without its newline."""
    return (f"traceroute to {options.host} ({options.address}), {options.max_hops} hops max, "
            f"{packet_len} byte packets")


def icmp_flag(family: int, kind: int, code: int, info: int) -> str | None:
    """parse_icmp_res(): None for time exceeded in transit (an intermediate hop), "" for the
    destination's port unreachable, else the flag printed after the time. Every answer but
    None is final."""
    if family == socket.AF_INET:
        if kind == ICMP_TIME_EXCEEDED and code == 0:
            return None
        if kind == ICMP_DEST_UNREACH:
            if code == 4:
                return f"!F-{info}"
            return UNREACH_FLAGS_4.get(code, f"!<{code}>")
    else:
        if kind == ICMP6_TIME_EXCEEDED and code == 0:
            return None
        if kind == ICMP6_DST_UNREACH:
            return UNREACH_FLAGS_6.get(code, f"!<{code}>")
        if kind == ICMP6_PACKET_TOO_BIG:
            return f"!F-{info}"
    return f"!<{kind}-{code}>"

