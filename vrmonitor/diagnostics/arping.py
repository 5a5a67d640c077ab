"""arping, as Debian 12's iputils-arping (3:20221126) does it, with scapy.

ARP requests go out, and replies come back, through scapy's layer-2 socket (conf.L2socket: a
PF_PACKET socket bound to the interface and to the ARP ethertype, so the kernel hands us ARP
frames only and no BPF filter is needed); scapy's Ether and ARP layers build and dissect the
frames. Everything around the packets follows arping 20221126, checked side by side with the
Debian binary on a namespace topology (tests/integration/test_diag_arping.py):

- Options as getopt reads "h?bfDUAqc:w:i:s:I:V" (GNU permutation: options may follow the
  address). A bad option prints `arping: invalid option -- 'Z'` and the usage, exit 2; a bad
  number prints `arping: invalid argument: 'x'` (or `...: out of range: 1 <= value <=
  2147483647`), exit 1.
- Without -I the interface is the one the kernel's routing table names for the target
  (an RTM_GETROUTE query, as arping does); `arping: NETLINK_ROUTE unexpected iov element`,
  exit 1, when there is no route.
- Checks and their texts: `arping: Device X not available.` (stderr, 2); `Interface "X" is
  down` and `Interface "X" is not ARPable` (stdout, unless -q; 2, or 0 for the latter with
  -D); `arping: invalid source X` (2); `arping: bind: <error>` for a source that is not ours
  (-s, or -U/-A without -s, which use the target as source) (2); `arping: no source address
  in not-DAD mode` after the header (2).
- Timing: the first probe goes out at once, then one per interval (-i, whole seconds) from an
  interval timer; with -c N the run ends at the N-th tick (N * interval seconds) whatever the
  replies; -w is a separate deadline timer; with -w and -c the run also ends once N replies
  arrived; -f (and -D) end at the first reply. When the interval tick and the deadline fall
  due together, the tick's probe is sent first (so `-w 2` sends 3 probes).
- Broadcast first; after a reply, unicast to the replier's MAC unless -b.
- Reply lines: `Unicast|Broadcast reply|request from IP [MAC]` (MAC upper case), `for IP`
  when the reply is not for our address, `for [MAC]` when not to our MAC, then the time since
  the last probe sent, printed with arping's own arithmetic: `%ld.%03ldms` of
  (usecs + 500) / 1000 and usecs - msecs * 1000 + 500 -- which reads as the true time plus
  0.5 ms (`0.523ms` for a 23 us answer). ` UNSOLICITED?` when nothing was sent yet.
- Exit status of 20221126 (measured; it differs from both older and 2024+ releases):
  -D: 1 when a reply came (address in use), else 0 -- also 1 when not a single probe could be
  sent (iputils#449: brd_sent == received); -U/-A: always 0; -w without -c: 0 iff at least one
  reply; every other case: 0 only when sent == received (so `-c 4` with one lost reply exits
  1, iputils#593); a recvfrom() ENETDOWN adds 2.

Needs CAP_NET_RAW. scapy is imported on first use only (its layer modules, never scapy.all).
"""

import errno
import fcntl
import logging
import os
import select
import socket
import struct
import sys
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from vrmonitor.diagnostics import arping_output as out
from vrmonitor.diagnostics.toolkit import (INT_MAX, STDOUT, InvalidNumber, ToolExit, getopt, scapy,
                                           strtol_or_err, write)

if TYPE_CHECKING:  # scapy is imported on first use only
    from scapy.supersocket import SuperSocket

PROG = "arping"
ETH_P_ARP = 0x0806
ETH_P_IP = 0x0800
ARPHRD_ETHER, ARPHRD_FDDI = 1, 774
ARPOP_REQUEST, ARPOP_REPLY = 1, 2
IFF_UP, IFF_LOOPBACK, IFF_NOARP = 0x1, 0x8, 0x80
SIOCGIFFLAGS = 0x8913
# rtnetlink (linux/rtnetlink.h, linux/netlink.h)
RTM_NEWROUTE, RTM_GETROUTE = 24, 26
NLM_F_REQUEST = 1
NLMSG_ERROR, NLMSG_DONE, NLMSG_OVERRUN = 2, 3, 4
RTA_DST, RTA_OIF = 1, 4
FRAME_SIZE = 4096
OPTSTRING = "h?bfDUAqc:w:i:s:I:V"

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ArpingOptions:
    """What the command line asked for, as arping's run_state holds it."""

    target: str = ""
    count: int = -1  # -1: no -c (count is at least 1 otherwise)
    deadline: int = 0  # -w seconds; 0: none
    interval: int = 1  # -i seconds; 0 disarms the interval timer (one probe only)
    device: str | None = None  # -I; None: from the routing table
    source: str | None = None  # -s
    quit_on_reply: bool = False  # -f, and -D
    dad: bool = False  # -D
    unsolicited: bool = False  # -U, and -A
    advert: bool = False  # -A
    broadcast_only: bool = False  # -b
    quiet: bool = False  # -q
    version: bool = False  # -V


def _usage(message: str | None = None) -> ToolExit:
    return ToolExit((f"{PROG}: {message}\n" if message else "") + out.USAGE, status=2)


def parse(argv: list[str]) -> ArpingOptions:
    """arping's command line, read as glibc getopt() reads it (options and the address in any
    order, `--` ends the options). ToolExit (a DiagnosticError) carries arping's own message
    and exit status for anything it refuses; -V returns at once with version=True."""
    values = dict(ArpingOptions().__dict__)
    operands = []
    for letter, value in getopt(argv, OPTSTRING, _usage):
        if letter is None:
            operands.append(value)
        elif letter in "h?":
            raise _usage()
        elif letter == "V":
            return ArpingOptions(version=True)
        elif value is None:
            _apply_flag(values, letter)
        else:
            try:
                _apply_valued(values, letter, value)
            except InvalidNumber as exc:
                raise ToolExit(f"{PROG}: {exc}", status=1) from None
    if len(operands) != 1:
        raise _usage()
    values["target"] = operands[0]
    return ArpingOptions(**values)


def _apply_flag(values: dict, letter: str) -> None:
    if letter == "b":
        values["broadcast_only"] = True
    elif letter == "D":
        values["dad"] = values["quit_on_reply"] = True
    elif letter == "U":
        values["unsolicited"] = True
    elif letter == "A":
        values["advert"] = values["unsolicited"] = True
    elif letter == "q":
        values["quiet"] = True
    elif letter == "f":
        values["quit_on_reply"] = True


def _apply_valued(values: dict, letter: str, value: str) -> None:
    if letter == "c":
        values["count"] = strtol_or_err(value, 1, INT_MAX)
    elif letter == "w":
        values["deadline"] = strtol_or_err(value, 0, INT_MAX)
    elif letter == "i":
        values["interval"] = strtol_or_err(value, 0, INT_MAX)
    elif letter == "I":
        values["device"] = value
    elif letter == "s":
        values["source"] = value


def main(argv: list[str], stdout=sys.stdout, stderr=sys.stderr) -> int:
    """Run arping; its output on stdout/stderr, its exit status returned."""
    try:
        options = parse(argv)
        if options.version:
            from vrmonitor import __version__

            print(f"{PROG} from iputils 20221126 (compatible implementation: vrmonitor "
                  f"{__version__}, scapy)", file=stdout)
            return 0
        return Arping(options, stdout, stderr).run()
    except ToolExit as exc:
        return exc.report(stdout, stderr)
    except OSError as exc:  # anything the kernel refused that arping has no own text for
        print(f"{PROG}: {_strerror(exc)}", file=stderr)
        return 2


def _strerror(exc: OSError) -> str:
    return os.strerror(exc.errno) if exc.errno else str(exc)


def _inet_aton(text: str) -> bytes | None:
    """inet_aton(3) (accepts `10.1`, `0x7f.1`, ...), None when it does not."""
    try:
        return socket.inet_aton(text)
    except (OSError, ValueError):
        return None


def _interface_flags(name: str) -> int | None:
    """SIOCGIFFLAGS of `name`; None when there is no such interface."""
    request = struct.pack("16sH14x", name.encode()[:15], 0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            answer = fcntl.ioctl(probe.fileno(), SIOCGIFFLAGS, request)
        except OSError:
            return None
    return struct.unpack_from("16sH", answer)[1]


def route_interface(target: bytes) -> str:
    """The output interface the kernel's routing table gives for `target` (RTM_GETROUTE, as
    arping's guess_device() asks); ToolExit with arping's text and status otherwise."""
    header = struct.Struct("=IHHII")
    rtmsg = struct.pack("=BBBBBBBBI", socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0)
    attribute = struct.pack("=HH", 4 + len(target), RTA_DST) + target
    body = rtmsg + attribute
    sequence = 1
    request = header.pack(header.size + len(body), RTM_GETROUTE, NLM_F_REQUEST, sequence, 0) + body
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE) as netlink:
        try:
            netlink.sendto(request, (0, 0))
            answer = netlink.recv(FRAME_SIZE)
        except OSError as exc:
            raise ToolExit(f"{PROG}: NETLINK_ROUTE socket failed: {_strerror(exc)}",
                              status=1) from exc
    offset, device = 0, None
    while offset + header.size <= len(answer):
        length, kind, _, seq, _ = header.unpack_from(answer, offset)
        if length < header.size:
            break
        if seq == sequence:
            if kind in (NLMSG_ERROR, NLMSG_OVERRUN):
                raise ToolExit(f"{PROG}: NETLINK_ROUTE unexpected iov element", status=1)
            if kind == RTM_NEWROUTE:
                device = _route_oif(answer[offset + header.size:offset + length]) or device
            elif kind != NLMSG_DONE:
                raise ToolExit(f"{PROG}: NETLINK new route message type", status=1)
        offset += (length + 3) & ~3
    if device is None:
        raise ToolExit(f"{PROG}: Suitable device could not be determined. "
                          "Please, use option -I.", status=2)
    return device


def _route_oif(payload: bytes) -> str | None:
    offset = 12  # struct rtmsg
    while offset + 4 <= len(payload):
        length, kind = struct.unpack_from("=HH", payload, offset)
        if length < 4:
            break
        if kind == RTA_OIF and length >= 8:
            index = struct.unpack_from("=I", payload, offset + 4)[0]
            try:
                return socket.if_indextoname(index)
            except OSError as exc:
                raise ToolExit(f"{PROG}: if_indextoname failed: {_strerror(exc)}",
                                  status=1) from exc
        offset += (length + 3) & ~3
    return None


def _scapy():
    """scapy's configuration and its Ether/ARP layers, imported on first use."""
    config = scapy("scapy.config")
    l2 = scapy("scapy.layers.l2")
    return config.conf, l2.Ether, l2.ARP


class Arping:
    """One arping run: set-up checks, the probe loop and the summary, as run_state does."""

    def __init__(self, options: ArpingOptions, stdout, stderr):
        self.options = options
        self.stdout = stdout
        self.stderr = stderr
        self.device = options.device or None  # `-I ""` means no -I, as in arping
        self.sent = self.brd_sent = 0
        self.received = self.brd_recv = self.req_recv = 0
        self.unicasting = False
        self.last_ns: int | None = None
        self.status = 0
        self.socket: SuperSocket | None = None

    def _out(self, text: str) -> None:
        write(self.stdout, text)

    def run(self) -> int:
        options = self.options
        self._check_raw_socket()
        target = _inet_aton(options.target)
        if target is None:
            target = self._resolve(options.target)
        self.target = target
        if self.device is None:
            self.device = route_interface(target)
        self._check_device()
        source = b"\0\0\0\0"
        if options.source is not None:
            given = _inet_aton(options.source)
            if given is None:
                raise ToolExit(f"{PROG}: invalid source {options.source}")
            source = given
        if not options.dad and options.unsolicited and options.source is None:
            source = target
        if not options.dad or options.source is not None:
            source = self._source_address(source)
        self.source = source
        try:
            self._open()
            if not options.quiet:
                self._out(f"ARPING {socket.inet_ntoa(target)} from {socket.inet_ntoa(source)} "
                         f"{self.device}\n")
            if options.source is None and source == b"\0\0\0\0" and not options.dad:
                raise ToolExit(f"{PROG}: no source address in not-DAD mode")
            self._loop()
            return self._finish()
        finally:
            if self.socket is not None:
                self.socket.close()

    # -- set-up ------------------------------------------------------------------------------

    def _check_raw_socket(self) -> None:
        """arping opens its packet socket before anything else: the same error, first."""
        try:
            socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, 0).close()
        except OSError as exc:
            raise ToolExit(f"{PROG}: socket: {_strerror(exc)}") from exc

    def _resolve(self, name: str) -> bytes:
        try:
            answers = socket.getaddrinfo(name, None, socket.AF_INET, socket.SOCK_RAW)
        except socket.gaierror as exc:
            raise ToolExit(f"{PROG}: {name}: {exc.strerror}") from exc
        except UnicodeError as exc:
            raise ToolExit(f"{PROG}: {name}: {exc}") from exc
        address = answers[0][4][0]
        assert isinstance(address, str)  # an AF_INET sockaddr is (address, port)
        return socket.inet_aton(address)

    def _check_device(self) -> None:
        """check_device(): the interface exists, is up and can do ARP."""
        assert self.device is not None  # run() took the route's when -I named none
        flags = _interface_flags(self.device)
        if flags is None:
            raise ToolExit(f"{PROG}: Device {self.device} not available.")
        quiet = self.options.quiet
        if not flags & IFF_UP:
            raise ToolExit("" if quiet else f'Interface "{self.device}" is down',
                           status=2, stream=STDOUT)
        if flags & (IFF_NOARP | IFF_LOOPBACK):
            raise ToolExit("" if quiet else f'Interface "{self.device}" is not ARPable',
                           status=0 if self.options.dad else 2, stream=STDOUT)

    def _source_address(self, source: bytes) -> bytes:
        """arping's UDP probe socket: bind to the given source, or connect towards the target
        (SO_DONTROUTE, on the device) and take the address the kernel chose."""
        options = self.options
        try:
            probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        except OSError as exc:
            raise ToolExit(f"{PROG}: socket: {_strerror(exc)}") from exc
        assert self.device is not None  # run() took the route's when -I named none
        with probe:
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE,
                                 self.device.encode() + b"\0")
            except OSError as exc:
                print(f"{PROG}: WARNING: interface is ignored: {_strerror(exc)}", file=self.stderr)
            if options.source is not None or source != b"\0\0\0\0":
                try:
                    probe.bind((socket.inet_ntoa(source), 0))
                except OSError as exc:
                    raise ToolExit(f"{PROG}: bind: {_strerror(exc)}") from exc
                return source
            if options.dad:
                return source
            try:
                probe.setsockopt(socket.SOL_SOCKET, socket.SO_DONTROUTE, 1)
            except OSError as exc:
                print(f"{PROG}: WARNING: setsockopt(SO_DONTROUTE): {_strerror(exc)}",
                      file=self.stderr)
            try:
                probe.connect((socket.inet_ntoa(self.target), 1025))
            except OSError as exc:
                raise ToolExit(f"{PROG}: connect: {_strerror(exc)}") from exc
            return socket.inet_aton(probe.getsockname()[0])

    def _open(self) -> None:
        """scapy's L2 socket on the device, for ARP frames only; our link-layer address."""
        conf, self.Ether, self.ARP = _scapy()
        try:
            sock: SuperSocket = conf.L2socket(iface=self.device, type=ETH_P_ARP, promisc=False,
                                              nofilter=1)
        except OSError as exc:
            raise ToolExit(f"{PROG}: bind: {_strerror(exc)}") from exc
        self.socket = sock
        _, _, _, hatype, address = sock.ins.getsockname()
        if not address:
            # A device without a link-layer address never passes arping's device scan.
            raise ToolExit(f"{PROG}: Device {self.device} not available.")
        self.hatype = ARPHRD_ETHER if hatype == ARPHRD_FDDI else hatype
        self.mac = address
        self.broadcast = b"\xff" * len(address)
        self.peer = self.broadcast

    # -- probes ------------------------------------------------------------------------------

    def _frame(self) -> bytes:
        options = self.options
        mac = ":".join(f"{byte:02x}" for byte in self.mac)
        peer = ":".join(f"{byte:02x}" for byte in self.peer)
        arp = self.ARP(hwtype=self.hatype, ptype=ETH_P_IP, hwlen=len(self.mac), plen=4,
                       op=ARPOP_REPLY if options.advert else ARPOP_REQUEST,
                       hwsrc=mac, psrc=socket.inet_ntoa(self.source),
                       hwdst=mac if options.advert else peer, pdst=socket.inet_ntoa(self.target))
        return bytes(self.Ether(dst=peer, src=mac, type=ETH_P_ARP) / arp)

    def _send(self) -> None:
        frame = self._frame()
        now = time.monotonic_ns()
        assert self.socket is not None  # opened by _open before the loop
        try:
            # scapy annotates send() with Packet, but it takes bytes too (it sends raw(x)).
            written = self.socket.send(frame)  # type: ignore[arg-type]
        except OSError as exc:
            LOG.debug("arping: send on %s: %s", self.device, exc)
            return
        if written == len(frame):
            self.last_ns = now
            self.sent += 1
            if not self.unicasting:
                self.brd_sent += 1

    def _receive(self) -> bool:
        """Read one frame; True when it ends the run (arping's FINAL_PACKS)."""
        assert self.socket is not None  # opened by _open before the loop
        try:
            _, frame, _ = self.socket.recv_raw(FRAME_SIZE)
        except OSError as exc:
            print(f"{PROG}: recvfrom: {_strerror(exc)}", file=self.stderr)
            if exc.errno == errno.ENETDOWN:
                self.status |= 2
            return False
        now = time.monotonic_ns()
        if not frame or len(frame) < 14:
            return False  # our own outgoing frame, or nothing
        return self._reply(frame, now)

    def _reply(self, frame: bytes, now: int) -> bool:
        """recv_pack(): filter, print and count one ARP frame."""
        options = self.options
        destination = frame[:6]
        if destination == self.mac:
            unicast = True
        elif destination == self.broadcast or destination[0] & 1:
            unicast = False
        else:
            return False  # another host's frame
        packet = self.Ether(frame)
        if not packet.haslayer(self.ARP):
            return False
        arp = packet[self.ARP]
        if arp.op not in (ARPOP_REQUEST, ARPOP_REPLY) or arp.hwtype != self.hatype:
            return False
        if arp.ptype != ETH_P_IP or arp.plen != 4 or arp.hwlen != len(self.mac):
            return False
        body = bytes(arp)[8:]  # after the fixed header; VLAN tags are already peeled off
        if len(body) < 2 * (4 + arp.hwlen):
            return False
        sender_mac = body[:arp.hwlen]
        sender_ip = body[arp.hwlen:arp.hwlen + 4]
        target_mac = body[arp.hwlen + 4:2 * arp.hwlen + 4]
        target_ip = body[2 * arp.hwlen + 4:2 * arp.hwlen + 8]
        if not options.dad:
            if sender_ip != self.target or target_ip != self.source or target_mac != self.mac:
                return False
        else:
            if sender_ip != self.target or sender_mac == self.mac:
                return False
            if self.source != b"\0\0\0\0" and self.source != target_ip:
                return False
        if not options.quiet:
            self._out(out.reply_line(
                unicast, arp.op == ARPOP_REPLY, sender_ip, sender_mac,
                target_ip if target_ip != self.source else None,
                target_mac if target_mac != self.mac else None,
                out.elapsed_text(self.last_ns, now) if self.last_ns is not None else None))
        self.received += 1
        if options.deadline and self.received == options.count:
            return True
        if not unicast:
            self.brd_recv += 1
        if arp.op == ARPOP_REQUEST:
            self.req_recv += 1
        if options.quit_on_reply or (options.count == 0 and self.received == self.sent):
            return True
        if not options.broadcast_only:
            self.peer = sender_mac
            self.unicasting = True
        return False

    def _loop(self) -> None:
        """event_loop(): an interval timer, a deadline timer and the socket, in that order."""
        options = self.options
        interval = options.interval * 10**9
        start = time.monotonic_ns()
        next_tick = start + interval if interval else None
        deadline = start + options.deadline * 10**9 if options.deadline else None
        expires = 1
        self._send()
        while True:
            due = [moment for moment in (next_tick, deadline) if moment is not None]
            wait = max(0.0, (min(due) - time.monotonic_ns()) / 1e9) if due else None
            try:
                readable, _, _ = select.select([self.socket], [], [], wait)
            except KeyboardInterrupt:
                return
            now = time.monotonic_ns()
            finished = False
            if next_tick is not None and now >= next_tick:
                ticks = (now - next_tick) // interval + 1
                next_tick += ticks * interval
                expires += ticks
                if 0 < options.count < expires:
                    finished = True
                else:
                    self._send()
            if deadline is not None and now >= deadline:
                finished = True
            if readable and self._receive():
                finished = True
            if finished:
                return

    def _finish(self) -> int:
        if not self.options.quiet:
            self._out(out.summary(self.sent, self.brd_sent, self.received, self.brd_recv,
                                 self.req_recv))
        return self.status | out.exit_status(self.options, self.sent, self.brd_sent,
                                             self.received)
