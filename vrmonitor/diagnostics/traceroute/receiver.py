"""traceroute's receiving side: raw sockets that see the answers (ICMP / ICMPv6 errors and echo
replies, and for -T the destination's TCP segments), each dissected with scapy and tied to a
probe by what it quotes (the method's matches()) or acknowledges.
"""

import logging
import select
import socket
import struct
import time
from dataclasses import dataclass

from vrmonitor.diagnostics.traceroute.cli import UINT_MASK
from vrmonitor.diagnostics.traceroute.methods import (ICMP_FILTER, ICMPV6_FILTER, SOL_RAW,
                                                      IcmpSender, ProbeSender, TcpSender)
from vrmonitor.diagnostics.traceroute.output import (ICMP6_DST_UNREACH, ICMP6_ECHO_REPLY,
                                                     ICMP6_PACKET_TOO_BIG, ICMP6_PARAM_PROB,
                                                     ICMP6_TIME_EXCEEDED, ICMP_DEST_UNREACH,
                                                     ICMP_ECHOREPLY, ICMP_PARAMETERPROB,
                                                     ICMP_REDIRECT, ICMP_SOURCE_QUENCH,
                                                     ICMP_TIME_EXCEEDED)

RECEIVE_SIZE = 65535
SO_TIMESTAMPNS = 35

LOG = logging.getLogger(__name__)


@dataclass
class Answer:
    """One answer read from the network, already tied to a probe's seq."""

    seq: int
    address: str | None
    recv_time: float
    recv_ttl: int = 0
    kind: int = -1  # ICMP type of an error; -1 for the destination's own reply
    code: int = 0
    info: int = 0


class Receiver:
    """Raw sockets that see the answers: ICMP (v6) errors and echo replies, and for -T the
    destination's TCP segments. Each packet is dissected with scapy and matched to a probe
    by what it quotes (sender.matches) or acknowledges."""

    def __init__(self, sender: ProbeSender):
        self.sender = sender
        self.family = sender.family
        self.inet, self.inet6 = sender.inet, sender.inet6
        self.sockets: list[socket.socket] = []
        try:
            self._open(isinstance(sender, TcpSender))
        except OSError:
            self.close()
            raise

    def _open(self, tcp_answers: bool) -> None:
        v4 = self.family == socket.AF_INET
        wanted: tuple[int, ...]
        icmp = socket.socket(self.family, socket.SOCK_RAW,
                             socket.IPPROTO_ICMP if v4 else socket.IPPROTO_ICMPV6)
        self.sockets.append(icmp)
        self.icmp = icmp
        if v4:
            wanted = (ICMP_ECHOREPLY, ICMP_DEST_UNREACH, ICMP_TIME_EXCEEDED, ICMP_PARAMETERPROB)
            mask = UINT_MASK
            for kind in wanted:
                mask &= ~(1 << kind)
            icmp.setsockopt(SOL_RAW, ICMP_FILTER, struct.pack("=I", mask))
        else:
            wanted = (ICMP6_DST_UNREACH, ICMP6_PACKET_TOO_BIG, ICMP6_TIME_EXCEEDED,
                      ICMP6_PARAM_PROB, ICMP6_ECHO_REPLY)
            words = [UINT_MASK] * 8
            for kind in wanted:
                words[kind >> 5] &= ~(1 << (kind & 31))
            icmp.setsockopt(socket.IPPROTO_ICMPV6, ICMPV6_FILTER, struct.pack("=8I", *words))
            icmp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        if tcp_answers:
            tcp = socket.socket(self.family, socket.SOCK_RAW, socket.IPPROTO_TCP)
            self.sockets.append(tcp)
            if not v4:
                tcp.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_RECVHOPLIMIT, 1)
        # Not bound to -i's device: a local error (an absent neighbour) arrives through lo.
        for sock in self.sockets:
            sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            sock.setblocking(False)

    def close(self) -> None:
        for sock in self.sockets:
            sock.close()

    def wait(self, timeout: float) -> list[Answer]:
        """do_poll(): wait up to `timeout` for answers; all that are queued then."""
        try:
            readable, _, _ = select.select(self.sockets, [], [], max(0.0, timeout))
        except InterruptedError:
            return []
        answers = []
        for sock in readable:
            while True:
                try:
                    data, ancillary, _, source = sock.recvmsg(RECEIVE_SIZE, 256)
                except (BlockingIOError, InterruptedError):
                    break
                answer = self._answer(sock, data, ancillary, source)
                if answer is not None:
                    answers.append(answer)
        return answers

    def _answer(self, sock, data: bytes, ancillary, source) -> Answer | None:
        received = time.monotonic()
        hop_limit = 0
        for level, kind, value in ancillary:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS and len(value) >= 16:
                seconds, nanoseconds = struct.unpack_from("=qq", value)
                # The kernel's arrival time, moved onto the monotonic clock.
                received = seconds + nanoseconds / 1e9 - (time.time() - time.monotonic())
            elif level == socket.IPPROTO_IPV6 and kind == socket.IPV6_HOPLIMIT and len(value) >= 4:
                hop_limit = struct.unpack_from("=i", value)[0]
        try:
            if self.family == socket.AF_INET:
                return self._answer4(sock, data, received)
            return self._answer6(sock, data, source, received, hop_limit)
        except (IndexError, struct.error, ValueError, TypeError, AttributeError) as exc:
            LOG.debug("traceroute: a packet scapy could not take apart: %s", exc)
            return None

    def _answer4(self, sock, data: bytes, received: float) -> Answer | None:
        inet = self.inet
        packet = inet.IP(data)
        destination = self.sender.options.address
        if sock is not self.icmp:
            if not packet.haslayer(inet.TCP) or packet.src != destination:
                return None
            assert isinstance(self.sender, TcpSender)  # only -T opens a socket besides icmp
            seq = self.sender.reply_seq(packet[inet.TCP])
            return None if seq is None else Answer(seq, packet.src, received, packet.ttl)
        if not packet.haslayer(inet.ICMP):
            return None
        icmp = packet[inet.ICMP]
        if icmp.type == ICMP_ECHOREPLY:
            if not isinstance(self.sender, IcmpSender) or packet.src != destination:
                return None
            if icmp.id != self.sender.ident:
                return None
            return Answer(icmp.seq or 0x10000, packet.src, received, packet.ttl)
        if icmp.type in (ICMP_SOURCE_QUENCH, ICMP_REDIRECT):
            return None
        quoted = icmp.payload
        if not isinstance(quoted, inet.IPerror) or quoted.dst != destination:
            return None
        seq = self.sender.matches(quoted.proto, quoted.payload or None)
        if seq is None:
            return None
        info = 0
        if icmp.type == ICMP_DEST_UNREACH and icmp.code == 4:  # the next hop's MTU
            info = struct.unpack_from("!H", bytes(icmp), 6)[0]
        return Answer(seq, packet.src, received, packet.ttl, icmp.type, icmp.code, info)

    def _answer6(self, sock, data: bytes, source, received: float, hop_limit: int) -> Answer | None:
        inet6 = self.inet6
        origin = socket.getnameinfo(source[:4] if len(source) >= 4 else source,
                                    socket.NI_NUMERICHOST | socket.NI_NUMERICSERV)[0]
        destination = self.sender.options.address
        if sock is not self.icmp:
            segment = self.inet.TCP(data)
            if _same6(origin, destination):
                assert isinstance(self.sender, TcpSender)  # only -T opens a socket besides icmp
                seq = self.sender.reply_seq(segment)
                return None if seq is None else Answer(seq, origin, received, hop_limit)
            return None
        kind = data[0]
        cls = inet6.icmp6typescls.get(kind, inet6.ICMPv6Unknown)
        message = cls(data)
        if kind == ICMP6_ECHO_REPLY:
            if not isinstance(self.sender, IcmpSender) or not _same6(origin, destination):
                return None
            if message.id != self.sender.ident:
                return None
            return Answer(message.seq or 0x10000, origin, received, hop_limit)
        quoted = message.payload
        if not isinstance(quoted, inet6.IPerror6) or not _same6(quoted.dst, destination):
            return None
        seq = self.sender.matches(quoted.nh, quoted.payload or None)
        if seq is None:
            return None
        info = struct.unpack_from("!I", data, 4)[0] if kind == ICMP6_PACKET_TOO_BIG else 0
        return Answer(seq, origin, received, hop_limit, kind, data[1], info)


def _same6(one: str, other: str) -> bool:
    try:
        return socket.inet_pton(socket.AF_INET6, one.split("%")[0]) == \
            socket.inet_pton(socket.AF_INET6, other.split("%")[0])
    except OSError:
        return False

