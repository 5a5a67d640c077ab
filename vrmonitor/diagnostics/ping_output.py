"""What iputils ping (Debian 12, 3:20221126) prints, as pure functions: no sockets, no clock.

`vrmonitor.diagnostics.ping` feeds these with what it measured. Every number is computed the way
ping computes it, in integer microseconds, so the text matches the real tool byte for byte:

- reply times (`time=`): 3 decimals below 1 ms, 2 up to 10 ms, 1 up to 100 ms, then whole
  milliseconds, each rounded at the boundary the way ping rounds (0.999 ms, 1.00 ms, 9.99 ms,
  10.0 ms, 99.9 ms, 100 ms);
- loss: C's `%g` of a single-precision float (0, 25, 33.3333, 100);
- rtt summary: integer min/avg/max and the population standard deviation as ping computes it
  (`(sum2 - sum*sum/n) / n` truncated, then ping's own integer square root, which is not
  always the floor: 3 gives 2), each printed `%ld.%03ld`;
- `time NNNms`: first probe sent to last probe sent, rounded to the millisecond.
"""

import struct
import time
from dataclasses import dataclass, field

from vrmonitor.diagnostics.toolkit import INT_MAX, LONG_MAX
TIMING_BYTES = 16  # ping times a probe only when the data holds a struct timeval (16 bytes)

# IPv4 ICMP types and the texts ping prints for them (pr_icmph).
ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_SOURCE_QUENCH, ICMP_REDIRECT = 0, 3, 4, 5
ICMP_ECHO, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB = 8, 11, 12
_UNREACHABLE4 = {
    0: "Destination Net Unreachable",
    1: "Destination Host Unreachable",
    2: "Destination Protocol Unreachable",
    3: "Destination Port Unreachable",
    5: "Source Route Failed",
    6: "Destination Net Unknown",
    7: "Destination Host Unknown",
    8: "Source Host Isolated",
    9: "Destination Net Prohibited",
    10: "Destination Host Prohibited",
    11: "Destination Net Unreachable for Type of Service",
    12: "Destination Host Unreachable for Type of Service",
    13: "Packet filtered",
    14: "Precedence Violation",
    15: "Precedence Cutoff",
}
_REDIRECT4 = {0: "Redirect Network", 1: "Redirect Host",
              2: "Redirect Type of Service and Network", 3: "Redirect Type of Service and Host"}
_OTHER4 = {0: "Echo Reply", 8: "Echo Request", 13: "Timestamp", 14: "Timestamp Reply",
           15: "Information Request", 16: "Information Reply", 17: "Address Mask Request",
           18: "Address Mask Reply"}

# ICMPv6 (print_icmp of ping6_common.c).
ICMP6_DST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED, ICMP6_PARAM_PROB = 1, 2, 3, 4
ICMP6_ECHO_REQUEST, ICMP6_ECHO_REPLY = 128, 129
_UNREACHABLE6 = {0: "No route", 1: "Administratively prohibited",
                 2: "Beyond scope of source address", 3: "Address unreachable",
                 4: "Port unreachable", 5: "Source address failed ingress/egress policy",
                 6: "Reject route to destination"}
_PARAMPROB6 = {0: "Wrong header field ", 1: "Unknown header ", 2: "Unknown option "}
_OTHER6 = {128: "Echo request", 129: "Echo reply", 130: "MLD Query", 131: "MLD Report",
           132: "MLD Reduction"}

USAGE = """
Usage
  ping [options] <destination>

Options:
  <destination>      dns name or ip address
  -a                 use audible ping
  -A                 use adaptive ping
  -B                 sticky source address
  -c <count>         stop after <count> replies
  -C                 call connect() syscall on socket creation
  -D                 print timestamps
  -d                 use SO_DEBUG socket option
  -e <identifier>    define identifier for ping session, default is random for
                     SOCK_RAW and kernel defined for SOCK_DGRAM
                     Imply using SOCK_RAW (for IPv4 only for identifier 0)
  -f                 flood ping
  -h                 print help and exit
  -I <interface>     either interface name or address
  -i <interval>      seconds between sending each packet
  -L                 suppress loopback of multicast packets
  -l <preload>       send <preload> number of packages while waiting replies
  -m <mark>          tag the packets going out
  -M <pmtud opt>     define mtu discovery, can be one of <do|dont|want>
  -n                 no dns name resolution
  -O                 report outstanding replies
  -p <pattern>       contents of padding byte
  -q                 quiet output
  -Q <tclass>        use quality of service <tclass> bits
  -s <size>          use <size> as number of data bytes to be sent
  -S <size>          use <size> as SO_SNDBUF socket option value
  -t <ttl>           define time to live
  -U                 print user-to-user latency
  -v                 verbose output
  -V                 print version and exit
  -w <deadline>      reply wait <deadline> in seconds
  -W <timeout>       time to wait for response

IPv4 options:
  -4                 use IPv4
  -b                 allow pinging broadcast
  -R                 record route
  -T <timestamp>     define timestamp, can be one of <tsonly|tsandaddr|tsprespec>

IPv6 options:
  -6                 use IPv6
  -F <flowlabel>     define flow label, default is random
  -N <nodeinfo opt>  use icmp6 node info query, try <help> as argument

For more details see ping(8).
"""


def icmp4_text(kind: int, code: int, info: int = 0) -> str:
    """The text after `From <addr> icmp_seq=<n> ` for an IPv4 ICMP error (no newline)."""
    if kind == ICMP_DEST_UNREACH:
        if code == 4:
            return f"Frag needed and DF set (mtu = {info})"
        return _UNREACHABLE4.get(code, f"Dest Unreachable, Bad Code: {code}")
    if kind == ICMP_TIME_EXCEEDED:
        return {0: "Time to live exceeded", 1: "Frag reassembly time exceeded"}.get(
            code, f"Time exceeded, Bad Code: {code}")
    if kind == ICMP_SOURCE_QUENCH:
        return "Source Quench"
    if kind == ICMP_PARAMETERPROB:
        return f"Parameter problem: pointer = {info}"
    if kind == ICMP_REDIRECT:
        gateway = ".".join(str(b) for b in struct.pack("<I", info))
        return _REDIRECT4.get(code, f"Redirect, Bad Code: {code}") + f"(New nexthop: {gateway})"
    return _OTHER4.get(kind, f"Bad ICMP type: {kind}")


def icmp6_text(kind: int, code: int, info: int = 0) -> str:
    """The text after `From <addr> icmp_seq=<n> ` for an ICMPv6 error (no newline)."""
    if kind == ICMP6_DST_UNREACH:
        return "Destination unreachable: " + _UNREACHABLE6.get(code, f"Unknown code {code}")
    if kind == ICMP6_PACKET_TOO_BIG:
        return f"Packet too big: mtu={info}" + (f", code={code}" if code else "")
    if kind == ICMP6_TIME_EXCEEDED:
        return "Time exceeded: " + {0: "Hop limit", 1: "Defragmentation failure"}.get(
            code, f"code {code}")
    if kind == ICMP6_PARAM_PROB:
        return "Parameter problem: " + _PARAMPROB6.get(code, f"code {code} ") + f"at {info}"
    return _OTHER6.get(kind, f"unknown icmp type: {kind}")


def format_rtt(triptime: int) -> str:
    """A reply's round trip (integer microseconds) as ping prints it after `time=`."""
    if triptime >= 100000 - 50:
        return f"{(triptime + 500) // 1000}"
    if triptime >= 10000 - 5:
        return f"{(triptime + 50) // 1000}.{((triptime + 50) % 1000) // 100:01d}"
    if triptime >= 1000:
        return f"{(triptime + 5) // 1000}.{((triptime + 5) % 1000) // 10:02d}"
    return f"{triptime // 1000}.{triptime % 1000:03d}"


def format_loss(transmitted: int, received: int) -> str:
    """Packet loss in percent as C's `%g` of a float (single precision), as ping prints it."""
    loss = (transmitted - received) * 100.0 / transmitted
    single = struct.unpack("f", struct.pack("f", loss))[0]
    return format(single, "g")  # the same as C's %g


def elapsed_ms(nanoseconds: int) -> int:
    """`time NNNms`: nanoseconds rounded to the millisecond, halves up."""
    return (nanoseconds + 500000) // 1000000


def timestamp_prefix(now: float | None = None) -> str:
    """The `-D` prefix: wall-clock time as `[<seconds>.<microseconds>] `."""
    microseconds = int((time.time() if now is None else now) * 1000000)
    return f"[{microseconds // 1000000}.{microseconds % 1000000:06d}] "


def _ms3(value: int) -> str:
    """`%ld.%03ld` of value / 1000 and value % 1000, with C's truncating division."""
    whole = abs(value) // 1000 * (1 if value >= 0 else -1)
    part = abs(value) % 1000 * (1 if value >= 0 else -1)
    return f"{whole}.{part:03d}"


def llsqrt(value: int) -> int:
    """ping's integer square root (Newton from above; stops one step late, so 3 -> 2)."""
    previous, x = LONG_MAX, value
    if x > 0:
        while x < previous:
            previous = x
            x = (x + value // x) // 2
    return x


@dataclass
class Statistics:
    """ping's counters for one run: everything `--- ... ping statistics ---` reports."""

    timing: bool = True  # the probes carry a timestamp (at least 16 data bytes)
    interval_ms: int = 1000
    transmitted: int = 0
    received: int = 0  # distinct sequence numbers answered (duplicates not counted)
    duplicates: int = 0
    corrupted: int = 0
    errors: int = 0
    tsum: int = 0  # microseconds, every reply with a time (duplicates too)
    tsum2: int = 0
    tmin: int = LONG_MAX
    tmax: int = 0
    rtt: int = 0  # ping's moving average of the round trip, times 8 (for ipg/ewma)
    pipesize: int = 0
    acked: int = 0
    answered: set = field(default_factory=set)

    # ---- bookkeeping, in the order ping does it --------------------------------------------
    def sent(self) -> int:
        """A probe left: its sequence number (1, 2, ...; 16 bits, wrapping like ping's)."""
        self.transmitted += 1
        seq = self.transmitted & 0xFFFF
        self.answered.discard(seq)
        return seq

    def acknowledge(self, seq: int) -> None:
        """A reply or an ICMP error for `seq` came back: the pipe size and the last acked."""
        diff = (self.transmitted - seq) & 0xFFFF
        if diff <= 0x7FFF:
            self.pipesize = max(self.pipesize, diff + 1)
            ahead = (seq - self.acked) & 0xFFFF
            if (0 < ahead <= 0x7FFF) or ((self.transmitted - self.acked) & 0xFFFF) > 0x7FFF:
                self.acked = seq

    def in_flight(self) -> int:
        diff = (self.transmitted - self.acked) & 0xFFFF
        if diff <= 0x7FFF:
            return diff
        return self.transmitted - self.received - self.errors

    def reply(self, seq: int, triptime: int | None, corrupted: bool = False) -> bool:
        """Count an echo reply; True when it is a duplicate of one already counted."""
        if not corrupted:
            self.acknowledge(seq)
        if triptime is not None and not corrupted:
            self.tsum += triptime
            self.tsum2 += triptime * triptime
            self.tmin = min(self.tmin, triptime)
            self.tmax = max(self.tmax, triptime)
            self.rtt = triptime * 8 if not self.rtt else self.rtt + triptime - _cdiv(self.rtt, 8)
        if corrupted:
            self.corrupted += 1
            return False
        if seq in self.answered:
            self.duplicates += 1
            return True
        self.answered.add(seq)
        self.received += 1
        return False

    # ---- the figures ------------------------------------------------------------------------
    def exit_status(self, count: int, deadline: int) -> int:
        """ping's status after a run: 1 without a reply (or, with -w and -c, fewer than -c)."""
        return int(not self.received or bool(deadline and self.received < count))

    def rtt_summary(self) -> str:
        """`rtt min/avg/max/mdev = a/b/c/d ms` (only meaningful with received > 0)."""
        total = self.received + self.duplicates
        tmavg = self.tsum // total
        if self.tsum < INT_MAX:
            tmvar = int((float(self.tsum2) - (self.tsum * self.tsum) // total) / total)
        else:
            tmvar = int(float(self.tsum2) / total - tmavg * tmavg)
        tmdev = llsqrt(tmvar)
        return (f"rtt min/avg/max/mdev = {_ms3(self.tmin)}/{_ms3(tmavg)}/{_ms3(self.tmax)}"
                f"/{_ms3(tmdev)} ms")

    def summary(self, hostname: str, elapsed_ns: int) -> str:
        """The blank line, `--- <host> ping statistics ---` and what follows, newline-ended."""
        counts = f"{self.transmitted} packets transmitted, {self.received} received"
        if self.duplicates:
            counts += f", +{self.duplicates} duplicates"
        if self.corrupted:
            counts += f", +{self.corrupted} corrupted"
        if self.errors:
            counts += f", +{self.errors} errors"
        if self.transmitted:
            counts += (f", {format_loss(self.transmitted, self.received)}% packet loss"
                       f", time {elapsed_ms(elapsed_ns)}ms")
        last, comma = "", ""
        if self.received and self.timing:
            last, comma = self.rtt_summary(), ", "
        if self.pipesize > 1:
            last += f"{comma}pipe {self.pipesize}"
            comma = ", "
        if self.received and not self.interval_ms and self.transmitted > 1:
            ipg = (elapsed_ns // 1000) // (self.transmitted - 1)
            last += (f"{comma}ipg/ewma {ipg // 1000}.{ipg % 1000:03d}/"
                     f"{self.rtt // 8000}.{(self.rtt // 8) % 1000:03d} ms")
        return f"\n--- {hostname} ping statistics ---\n{counts}\n{last}\n"


def _cdiv(a: int, b: int) -> int:
    """C integer division (truncates toward zero)."""
    quotient = abs(a) // abs(b)
    return quotient if (a >= 0) == (b >= 0) else -quotient


# ---- lines --------------------------------------------------------------------------------

def header4(hostname: str, address: str, datalen: int, source: str | None = None,
            device: str | None = None) -> str:
    """`PING host (addr) [from src dev: ]N(N+28) bytes of data.` and a newline."""
    text = f"PING {hostname} ({address}) "
    if source is not None:
        text += f"from {source} {device or ''}: "
    return text + f"{datalen}({datalen + 8 + 20}) bytes of data.\n"


def header6(hostname: str, address: str, datalen: int, source: str | None = None,
            device: str | None = None) -> str:
    """`PING host(addr) [from src dev: ]N data bytes` and a newline."""
    text = f"PING {hostname}({address}) "
    if source is not None:
        text += f"from {source} {device or ''}: "
    return text + f"{datalen} data bytes\n"


def reply_line(size: int, peer: str, seq: int, ttl: int | None, triptime: int | None,
               duplicate: bool = False, truncated: bool = False, corrupted: bool = False,
               prefix: str = "") -> str:
    """`64 bytes from <peer>: icmp_seq=1 ttl=64 time=0.045 ms[ (DUP!)]` and a newline.

    `triptime` None: no `time=` (fewer than 16 data bytes). `truncated`: the reply is shorter
    than the request, and ping says so instead of the time.
    """
    text = f"{prefix}{size} bytes from {peer}: icmp_seq={seq}"
    if ttl is not None and ttl >= 0:
        text += f" ttl={ttl}"
    if truncated:
        return text + " (truncated)\n"
    if triptime is not None:
        text += f" time={format_rtt(triptime)} ms"
    if duplicate:
        text += " (DUP!)"
    if corrupted:
        text += " (BAD CHECKSUM!)"
    return text + "\n"


def error_line(reporter: str, seq: int, text: str, prefix: str = "") -> str:
    """`From <reporter> icmp_seq=<n> <text>` and a newline."""
    return f"{prefix}From {reporter} icmp_seq={seq} {text}\n"
