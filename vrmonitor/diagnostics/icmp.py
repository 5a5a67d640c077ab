"""ICMP echo (ping) to IPv4 addresses: packets built and read with scapy, sent by the kernel.

The requests go out through a kernel raw ICMP socket rather than scapy's own sr1(): the kernel
routes them and resolves the next hop's MAC address itself, so an absent on-link host costs
the timeout we choose instead of scapy's ARP resolution (about 3 s whatever timeout is given),
and many targets share one socket without threads. scapy's layers build the echo requests
(checksum included) and dissect what comes back, ICMP errors with the quoted request too.

A raw ICMP socket is handed a copy of every ICMP packet the host receives: a socket filter
(classic BPF) lets only the echo replies carrying our identifier, and ICMP errors, reach the
socket, so a busy host (another ping flooding loopback, say) neither fills its buffer nor
makes us dissect packets that are not ours.

Needs CAP_NET_RAW (root on the router). Only the layer modules of scapy are imported, lazily,
so importing this module costs nothing until a packet is built.
"""

import ctypes
import os
import select
import socket
import struct
import time
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from vrmonitor.diagnostics.ping_output import icmp4_text
from vrmonitor.diagnostics.toolkit import scapy

ECHO_REPLY, DEST_UNREACH, ECHO_REQUEST, TIME_EXCEEDED = 0, 3, 8, 11
PAYLOAD = bytes(range(16, 16 + 56))  # the 56 data bytes of a default ping
RECEIVE_SIZE = 65535
SO_ATTACH_FILTER = 26  # asm-generic/socket.h; the socket module does not name it

def _layers():
    """scapy's IPv4 layers, imported on first use and quietly (toolkit.scapy): the kernel
    sends, so scapy's load-time warnings about interfaces mean nothing here."""
    inet = scapy("scapy.layers.inet")
    return inet.IP, inet.ICMP, inet.ICMPerror


@dataclass(frozen=True)
class EchoReply:
    source: str
    ident: int
    seq: int
    ttl: int
    size: int  # bytes of ICMP message (header + data), as ping's "64 bytes from"
    received: float  # time.monotonic() on arrival


@dataclass(frozen=True)
class EchoError:
    """An ICMP error about one of our requests (the error quotes the request's id and seq)."""

    source: str  # who reported it
    target: str  # the request's destination
    ident: int
    seq: int
    kind: int
    code: int
    info: int = 0  # the ICMP header's second word: the next-hop MTU of "Frag needed"

    @property
    def text(self) -> str:
        """As iputils ping prints it (ping_output holds the one table)."""
        return icmp4_text(self.kind, self.code, self.info)


class EchoSocket:
    """One raw ICMP socket sending echo requests with one identifier and reading the answers.

    send() then receive() until a deadline; receive() returns only replies and errors that
    belong to this socket's identifier (a raw socket sees every ICMP packet of the host).
    """

    def __init__(self, ident: int | None = None):
        self.ident = (ident if ident is not None else int.from_bytes(os.urandom(2), "big")) & 0xFFFF
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
        try:
            _attach_filter(self._socket, self.ident)
            self._socket.setblocking(False)
            self._discard_queued()
        except OSError:
            self._socket.close()
            raise

    def _discard_queued(self) -> None:
        """Drop what arrived before the filter was attached (we have sent nothing yet)."""
        while True:
            try:
                self._socket.recv(RECEIVE_SIZE)
            except (BlockingIOError, InterruptedError):
                return

    def __enter__(self) -> "EchoSocket":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def close(self) -> None:
        self._socket.close()

    def send(self, target: str, seq: int, payload: bytes = PAYLOAD) -> float:
        """Send one echo request; the monotonic time it left. OSError as the kernel says it
        (ENETUNREACH without a route, EHOSTUNREACH once the neighbour is known to be absent)."""
        _, ICMP, _ = _layers()
        packet = bytes(ICMP(type=ECHO_REQUEST, id=self.ident, seq=seq & 0xFFFF) / payload)
        sent = time.monotonic()
        self._socket.sendto(packet, (target, 0))
        return sent

    def receive(self, deadline: float) -> EchoReply | EchoError | None:
        """The next reply or error for this identifier; None once `deadline` (monotonic) passed."""
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return None
            readable, _, _ = select.select([self._socket], [], [], remaining)
            if not readable:
                return None
            try:
                data = self._socket.recv(RECEIVE_SIZE)
            except (BlockingIOError, InterruptedError):
                continue
            found = self._parse(data, time.monotonic())
            if found is not None:
                return found

    def _parse(self, data: bytes, received: float) -> EchoReply | EchoError | None:
        IP, ICMP, ICMPerror = _layers()
        packet = IP(data)
        if ICMP not in packet:
            return None
        icmp = packet[ICMP]
        if icmp.type == ECHO_REPLY:
            if icmp.id != self.ident:
                return None
            return EchoReply(source=packet.src, ident=icmp.id, seq=icmp.seq, ttl=packet.ttl,
                             size=len(bytes(icmp)), received=received)
        if icmp.type in (DEST_UNREACH, TIME_EXCEEDED) and ICMPerror in packet:
            quoted = packet[ICMPerror]
            if quoted.type != ECHO_REQUEST or quoted.id != self.ident:
                return None
            return EchoError(source=packet.src, target=quoted.underlayer.dst, ident=quoted.id,
                             seq=quoted.seq, kind=icmp.type, code=icmp.code,
                             info=icmp.nexthopmtu if icmp.type == DEST_UNREACH and icmp.code == 4 else 0)
        return None


def _attach_filter(sock: socket.socket, ident: int) -> None:
    """Pass echo replies with identifier `ident`, destination-unreachable and time-exceeded
    errors; drop everything else in the kernel. On a raw IPv4 socket the program sees the
    packet from its IP header on."""
    ldxb_msh, ldb_ind, ldh_ind, jeq, ret = 0xB1, 0x50, 0x48, 0x15, 0x06
    program = [
        (ldxb_msh, 0, 0, 0),  # X = IP header length
        (ldb_ind, 0, 0, 0),  # A = ICMP type
        (jeq, 2, 0, ECHO_REPLY),  # -> check the identifier
        (jeq, 3, 0, DEST_UNREACH),  # -> pass
        (jeq, 2, 3, TIME_EXCEEDED),  # -> pass, else drop
        (ldh_ind, 0, 0, 4),  # A = ICMP identifier
        (jeq, 0, 1, ident),
        (ret, 0, 0, 0xFFFF),  # pass
        (ret, 0, 0, 0),  # drop
    ]
    code = b"".join(struct.pack("HBBI", *instruction) for instruction in program)
    buffer = ctypes.create_string_buffer(code, len(code))
    sock.setsockopt(socket.SOL_SOCKET, SO_ATTACH_FILTER,
                    struct.pack("HL", len(program), ctypes.addressof(buffer)))


@dataclass
class EchoOutcome:
    """What `echo` learnt about one target."""

    target: str
    sent: int = 0
    replies: int = 0
    rtts: list[float] = field(default_factory=list)  # seconds
    error: str | None = None  # the last send error or ICMP error, when no reply came

    @property
    def reachable(self) -> bool:
        return self.replies > 0


def echo(targets: list[str], attempts: int = 3, timeout: float = 1.0) -> dict[str, EchoOutcome]:
    """Ping every target (IPv4 addresses) at once: up to `attempts` echo requests each, one per
    `timeout` seconds, until it replies. Takes at most attempts x timeout seconds in all.

    Raises ValueError for a target that is not an IPv4 address and OSError when the raw
    socket cannot be opened (no CAP_NET_RAW).
    """
    for target in targets:
        IPv4Address(target)
    outcomes = {target: EchoOutcome(target) for target in targets}
    sent_at: dict[tuple[str, int], float] = {}
    with EchoSocket() as sock:
        for seq in range(1, attempts + 1):
            waiting = [target for target, outcome in outcomes.items() if not outcome.reachable]
            if not waiting:
                break
            for target in waiting:
                outcome = outcomes[target]
                try:
                    sent_at[(target, seq)] = sock.send(target, seq)
                    outcome.sent += 1
                except OSError as exc:
                    outcome.error = exc.strerror or str(exc)
            if not any((target, seq) in sent_at for target in waiting):
                continue  # the kernel refused every request: nothing to wait for
            deadline = time.monotonic() + timeout
            while any(not outcomes[target].reachable for target in waiting):
                found = sock.receive(deadline)
                if found is None:
                    break
                if isinstance(found, EchoReply):
                    started = sent_at.get((found.source, found.seq))
                    if started is None:  # not from a target, or a seq we never sent it
                        continue
                    outcome = outcomes[found.source]
                    outcome.replies += 1
                    outcome.rtts.append(found.received - started)
                    outcome.error = None
                elif found.target in outcomes and not outcomes[found.target].reachable:
                    outcomes[found.target].error = f"{found.text} (from {found.source})"
    return outcomes
