"""traceroute's probe methods (its mod-udp, mod-icmp and mod-tcp): the sending sockets,
their tuning, and one send(probe, ttl) each. Probes leave through kernel sockets (scapy
builds the ICMP and TCP ones), so the kernel routes and resolves the next hop itself;
matches() tells which probe a quoted datagram was, for the receiver.
"""

import errno
import os
import socket
import struct
import time
from types import ModuleType
from typing import Protocol

from vrmonitor.diagnostics.toolkit import ToolExit, scapy
from vrmonitor.diagnostics.traceroute.cli import UINT_MASK, TracerouteOptions
from vrmonitor.diagnostics.traceroute.output import ICMP6_ECHO_REQUEST, ICMP_ECHO, Probe

DEF_DATA_LEN = 40
DEF_START_PORT = 33434
DEF_TCP_PORT = 80
IP_HEADER: dict[int, int] = {socket.AF_INET: 20, socket.AF_INET6: 40}
# Linux values the socket module does not always name.
IP_MTU_DISCOVER, IP_PMTUDISC_DONT, IP_PMTUDISC_PROBE, IP_MTU, IP_RECVERR = 10, 0, 3, 14, 11
IPV6_MTU_DISCOVER, IPV6_PMTUDISC_DONT, IPV6_PMTUDISC_PROBE, IPV6_MTU = 23, 0, 3, 24
IPV6_RECVERR = 25
IPV6_CHECKSUM = 7
SO_MARK = 36
SOL_RAW, ICMP_FILTER = 255, 1
ICMPV6_FILTER = 1


def packet_length(options: TracerouteOptions) -> tuple[int, int]:
    """(header_len, data_len) as traceroute computes them for the method (the header shows
    their sum): UDP 8 + data, ICMP data includes its 8-byte header (at least 8), TCP a SYN
    with 20 bytes of options whatever packetlen says."""
    ip = IP_HEADER[options.family]
    if options.method == "tcp":
        return ip + 20, 20
    header = ip + (8 if options.method == "default" else 0)
    data = 0
    if options.packet_len < 0:
        data = DEF_DATA_LEN - (8 if options.method == "default" else 0)
    elif options.packet_len >= header:
        data = options.packet_len - header
    if options.method == "icmp" and data < 8:
        data = 8
    return header, data


# -- sockets -------------------------------------------------------------------------------

def _scapy():
    """scapy's IPv4/IPv6 layers, imported on first use (quietly: toolkit.scapy)."""
    return scapy("scapy.layers.inet"), scapy("scapy.layers.inet6")


def system_error(call: str, exc: OSError) -> ToolExit:
    """traceroute's error(): `\\n<call>: <strerror>` on stderr, exit 1."""
    reason = os.strerror(exc.errno) if exc.errno else str(exc)
    return ToolExit(f"\n{call}: {reason}", status=1)


def _call(name: str, function, *args):
    try:
        return function(*args)
    except OSError as exc:
        raise system_error(name, exc) from exc


class ProbeSender(Protocol):
    """What the engine and the receiver use of a method's sender: UdpSender, IcmpSender or
    TcpSender (the receiver asks a TcpSender for reply_seq() and an IcmpSender for ident)."""

    options: TracerouteOptions
    family: int
    inet: ModuleType  # scapy.layers.inet
    inet6: ModuleType  # scapy.layers.inet6

    def start(self) -> None:
        """Open and tune the sending socket(s); before any send()."""

    def send(self, probe: Probe, ttl: int) -> None:
        """Send `probe` with `ttl`; probe.send_time stays 0 when it is to be tried again."""

    def matches(self, quoted_proto: int, layer) -> int | None:
        """The seq of the probe a quoted datagram (its protocol, its scapy layer) was."""

    def close(self) -> None:
        """Close what start() opened."""


class Sender:
    """The probes of one method: the sending socket(s), their tuning (tune_socket and
    bind_socket), and send(probe, ttl)."""

    def __init__(self, options: TracerouteOptions, data_len: int):
        self.options = options
        self.family = options.family
        self.data_len = data_len
        self.inet, self.inet6 = _scapy()
        self.socket: socket.socket | None = None
        self.source: str | None = options.source

    def close(self) -> None:
        if self.socket is not None:
            self.socket.close()

    @property
    def _started(self) -> socket.socket:
        """The sending socket, for send()."""
        assert self.socket is not None  # the engine calls send() only after start()
        return self.socket

    def tune(self, sock: socket.socket, port: int = 0) -> None:
        """tune_socket(): debug, mark, device, bind, DF, TOS, don't-route, in that order."""
        options = self.options
        v4 = self.family == socket.AF_INET
        if options.debug:
            _call("setsockopt SO_DEBUG", sock.setsockopt, socket.SOL_SOCKET, socket.SO_DEBUG, 1)
        if options.fwmark:
            _call("setsockopt SO_MARK", sock.setsockopt, socket.SOL_SOCKET, SO_MARK,
                  options.fwmark)
        if options.device is not None:
            _call("setsockopt SO_BINDTODEVICE", sock.setsockopt, socket.SOL_SOCKET,
                  socket.SO_BINDTODEVICE, options.device.encode() + b"\0")
        address = options.source or ("0.0.0.0" if v4 else "::")
        _call("bind", sock.bind, (address, port) if v4 else (address, port, 0, 0))
        if v4:
            mode = IP_PMTUDISC_PROBE if options.dontfrag else IP_PMTUDISC_DONT
            _call("setsockopt IP_MTU_DISCOVER", sock.setsockopt, socket.IPPROTO_IP,
                  IP_MTU_DISCOVER, mode)
            if options.tos:
                _call("setsockopt IP_TOS", sock.setsockopt, socket.IPPROTO_IP, socket.IP_TOS,
                      options.tos)
        else:
            mode = IPV6_PMTUDISC_PROBE if options.dontfrag else IPV6_PMTUDISC_DONT
            _call("setsockopt IPV6_MTU_DISCOVER", sock.setsockopt, socket.IPPROTO_IPV6,
                  IPV6_MTU_DISCOVER, mode)
            if options.tos:
                _call("setsockopt IPV6_TCLASS", sock.setsockopt, socket.IPPROTO_IPV6,
                      socket.IPV6_TCLASS, options.tos)
        if options.dontroute:
            _call("setsockopt SO_DONTROUTE", sock.setsockopt, socket.SOL_SOCKET,
                  socket.SO_DONTROUTE, 1)

    def set_ttl(self, sock: socket.socket, ttl: int) -> None:
        if self.family == socket.AF_INET:
            _call("setsockopt IP_TTL", sock.setsockopt, socket.IPPROTO_IP, socket.IP_TTL, ttl)
        else:
            _call("setsockopt IPV6_UNICAST_HOPS", sock.setsockopt, socket.IPPROTO_IPV6,
                  socket.IPV6_UNICAST_HOPS, ttl)

    def destination(self, port: int = 0):
        if self.family == socket.AF_INET:
            return (self.options.address, port)
        return (self.options.address, port, 0, 0)

    def local_mtu(self, size: int) -> int:
        """The MTU in the kernel's own local error for a `size`-byte datagram that does not
        fit (what traceroute reads from its error queue as `!F-<mtu>`): the same datagram
        is offered once more on a throw-away socket with IP_RECVERR, and the report read."""
        v4 = self.family == socket.AF_INET
        level = socket.IPPROTO_IP if v4 else socket.IPPROTO_IPV6
        recverr = IP_RECVERR if v4 else IPV6_RECVERR
        with socket.socket(self.family, socket.SOCK_DGRAM) as probe:
            try:
                if self.options.device is not None:
                    probe.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                     self.options.device.encode() + b"\0")
                if v4:
                    probe.setsockopt(level, IP_MTU_DISCOVER, IP_PMTUDISC_PROBE)
                else:
                    probe.setsockopt(level, IPV6_MTU_DISCOVER, IPV6_PMTUDISC_PROBE)
                probe.setsockopt(level, recverr, 1)
                probe.connect(self.destination(DEF_START_PORT))
                try:
                    probe.send(bytes(max(0, size - IP_HEADER[self.family] - 8)))
                except OSError as exc:
                    if exc.errno != errno.EMSGSIZE:
                        raise
                _, ancillary, _, _ = probe.recvmsg(1, 512,
                                                   socket.MSG_ERRQUEUE | socket.MSG_DONTWAIT)
                for cmsg_level, cmsg_type, value in ancillary:
                    if cmsg_level == level and cmsg_type == recverr and len(value) >= 16:
                        # struct sock_extended_err: errno, origin, type, code, pad, info, data
                        return struct.unpack_from("=IBBBBII", value)[5]
                return probe.getsockopt(level, IP_MTU if v4 else IPV6_MTU)
            except OSError:
                return 0

    def transmit(self, sock: socket.socket, payload: bytes, probe: Probe, address=None) -> bool:
        """do_send(): True when the probe counts as sent (EMSGSIZE does: it is answered
        locally with `!F-<mtu>`); False for ENOBUFS/EAGAIN (try later); error() otherwise."""
        probe.send_time = time.monotonic()
        try:
            if address is None:
                sock.send(payload)
            else:
                sock.sendto(payload, address)
        except OSError as exc:
            if exc.errno in (errno.ENOBUFS, errno.EAGAIN):
                probe.send_time = 0.0
                return False
            if exc.errno == errno.EMSGSIZE:
                # The kernel's local error report: no address, the route's MTU.
                probe.recv_time = time.monotonic()
                probe.err_str = f"!F-{self.local_mtu(IP_HEADER[self.family] + len(payload))}"
                probe.final = probe.done = True
                return True
            raise system_error("send", exc) from exc
        return True


class UdpSender(Sender):
    """The default method: UDP to port 33434 (or -p) + one per probe, from one bound socket."""

    def __init__(self, options, data_len):
        super().__init__(options, data_len)
        self.port = options.port or DEF_START_PORT
        self.payload = bytes(0x40 + (i & 0x3F) for i in range(data_len))

    def start(self) -> None:
        """After the header, as traceroute meets these errors at its first probe."""
        sock = _call("socket", socket.socket, self.family, socket.SOCK_DGRAM)
        self.socket = sock
        self.tune(sock, self.options.src_port & 0xFFFF)
        # traceroute connects each probe's socket: the same route errors ("connect: Network
        # is unreachable"), from a throw-away socket, since ours stays unconnected.
        with socket.socket(self.family, socket.SOCK_DGRAM) as check:
            if self.options.device is not None:
                _call("setsockopt SO_BINDTODEVICE", check.setsockopt, socket.SOL_SOCKET,
                      socket.SO_BINDTODEVICE, self.options.device.encode() + b"\0")
            if self.options.source:
                _call("bind", check.bind, self.destination_of(self.options.source))
            _call("connect", check.connect, self.destination(self.port & 0xFFFF))
        self.local_port = sock.getsockname()[1]

    def destination_of(self, address: str):
        return (address, 0) if self.family == socket.AF_INET else (address, 0, 0, 0)

    def send(self, probe: Probe, ttl: int) -> None:
        self.set_ttl(self._started, ttl)
        port = self.port & 0xFFFF
        if not self.transmit(self._started, self.payload, probe, self.destination(port)):
            return
        probe.seq = port or 0x10000
        self.port += 1

    def matches(self, quoted_proto: int, layer) -> int | None:
        """The seq of the probe a quoted UDP header belongs to."""
        if quoted_proto != socket.IPPROTO_UDP or layer is None:
            return None
        if getattr(layer, "sport", None) != self.local_port:
            return None
        return getattr(layer, "dport", 0) or 0x10000


class IcmpSender(Sender):
    """-I: ICMP (v6) echo requests through a raw socket; id = pid, seq from 1 (or -p + 1)."""

    def __init__(self, options, data_len):
        super().__init__(options, data_len)
        self.ident = os.getpid() & 0xFFFF
        self.seq = options.port
        self.payload = bytes(0x40 + (i & 0x3F) for i in range(8, data_len))

    def start(self) -> None:
        """At init, before the header (traceroute's icmp_init): socket, tuning, connect."""
        v4 = self.family == socket.AF_INET
        protocol = socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6
        sock = _call("socket", socket.socket, self.family, socket.SOCK_RAW, protocol)
        self.socket = sock
        self.tune(sock)
        _call("connect", sock.connect, self.destination())
        # This socket only sends: the answers are read on the receiver's socket.
        if v4:
            sock.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", UINT_MASK))
        else:
            sock.setsockopt(socket.IPPROTO_ICMPV6, ICMPV6_FILTER, b"\xff" * 32)

    def send(self, probe: Probe, ttl: int) -> None:
        self.set_ttl(self._started, ttl)
        self.seq = (self.seq + 1) & 0xFFFF
        if self.family == socket.AF_INET:
            packet = self.inet.ICMP(type=ICMP_ECHO, id=self.ident, seq=self.seq) / self.payload
        else:
            # The kernel computes the ICMPv6 checksum of raw ICMPv6 sockets.
            packet = self.inet6.ICMPv6EchoRequest(id=self.ident, seq=self.seq, cksum=0,
                                                  data=self.payload)
        if self.transmit(self._started, bytes(packet), probe):
            probe.seq = self.seq or 0x10000

    def matches(self, quoted_proto: int, layer) -> int | None:
        if quoted_proto not in (socket.IPPROTO_ICMP, socket.IPPROTO_ICMPV6) or layer is None:
            return None
        if getattr(layer, "type", None) not in (ICMP_ECHO, ICMP6_ECHO_REQUEST):
            return None
        if getattr(layer, "id", None) != self.ident:
            return None
        return getattr(layer, "seq", 0) or 0x10000


class TcpSender(Sender):
    """-T: TCP SYNs (MSS, SACK, timestamps, window scale: 40 bytes) to port 80 (or -p) through
    a raw socket; a reserved local port, one sequence number per probe."""

    def __init__(self, options, data_len):
        super().__init__(options, data_len)
        self.port = (options.port or DEF_TCP_PORT) & 0xFFFF
        self.base = int.from_bytes(os.urandom(4), "big") & 0x7FFFFFFF
        self.count = 0
        self.reserved: socket.socket | None = None

    def start(self) -> None:
        """After the header, as traceroute's first TCP probe: reserve a source port with a
        bound TCP socket (so the kernel answers nothing else on it), then the raw socket."""
        reserved = _call("socket", socket.socket, self.family, socket.SOCK_STREAM)
        self.reserved = reserved
        self.tune(reserved, self.options.src_port & 0xFFFF)
        self.local_port = reserved.getsockname()[1]
        sock = _call("socket", socket.socket, self.family, socket.SOCK_RAW, socket.IPPROTO_TCP)
        self.socket = sock
        self.tune(sock)
        _call("connect", sock.connect, self.destination())
        if self.source is None:
            self.source = sock.getsockname()[0]
        if self.family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, IPV6_CHECKSUM, 16)

    def close(self) -> None:
        super().close()
        if self.reserved is not None:
            self.reserved.close()

    def send(self, probe: Probe, ttl: int) -> None:
        self.set_ttl(self._started, ttl)
        self.count += 1
        seq = (self.base + self.count) & UINT_MASK
        tcp = self.inet.TCP(sport=self.local_port, dport=self.port, seq=seq, flags="S",
                            window=64240,
                            options=[("MSS", 1460), ("SAckOK", b""),
                                     ("Timestamp", (int(time.monotonic() * 1000) & UINT_MASK, 0)),
                                     ("NOP", None), ("WScale", 7)])
        if self.family == socket.AF_INET:
            segment = bytes(self.inet.IP(src=self.source, dst=self.options.address) / tcp)[20:]
        else:
            tcp.chksum = 0  # IPV6_CHECKSUM: the kernel fills it in
            segment = bytes(tcp)
        if self.transmit(self._started, segment, probe):
            probe.seq = seq or 0x100000000

    def matches(self, quoted_proto: int, layer) -> int | None:
        if quoted_proto != socket.IPPROTO_TCP or layer is None:
            return None
        if (getattr(layer, "sport", None), getattr(layer, "dport", None)) != \
                (self.local_port, self.port):
            return None
        return getattr(layer, "seq", 0) or 0x100000000

    def reply_seq(self, segment) -> int | None:
        """The probe seq a TCP answer from the destination acknowledges (SYN-ACK or RST)."""
        if segment.sport != self.port or segment.dport != self.local_port:
            return None
        return ((segment.ack - 1) & UINT_MASK) or 0x100000000

