"""One ping run against one address (ping_common.c's main loop, pinger and finish, with the
set-up of ping4_run / ping6_run): the raw socket, the counters, the probes and what comes back.

A kernel raw ICMP socket sends and receives, so the kernel routes and resolves neighbours
itself; ICMP errors about our probes arrive through its error queue (IP_RECVERR), each naming
the reporter and quoting our request. `vrmonitor.diagnostics.ping` reads the command line and
resolves the target; ping_output formats what is measured here.
"""

import errno
import logging
import os
import select
import socket
import struct
import time
from vrmonitor.diagnostics import ping_output as out
from vrmonitor.diagnostics.ping_options import PingOptions
from vrmonitor.diagnostics.toolkit import ToolExit, scapy, write

MININTERVAL_MS = 10

# Linux constants the socket module does not (always) name.
SOL_RAW = 255
ICMP_FILTER = 1
ICMP6_FILTER = 1
IP_RECVERR = 11
IPV6_RECVERR = 25
MSG_ERRQUEUE = 0x2000
SO_EE_ORIGIN_LOCAL, SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6 = 1, 2, 3
SO_BINDTODEVICE = getattr(socket, "SO_BINDTODEVICE", 25)
IPV6_RECVHOPLIMIT = getattr(socket, "IPV6_RECVHOPLIMIT", 51)
IPV6_HOPLIMIT = getattr(socket, "IPV6_HOPLIMIT", 52)
MAX_PACKET = 0xFFFF  # what one echo request can carry at most (IPv4 total length)


class TryNext(Exception):
    """connect() found no route to this address, and the name has another one."""


def layers(family: int):
    """scapy's echo request/reply layers and checksum for the family, imported on first use."""
    inet = scapy("scapy.layers.inet", quiet_below=logging.CRITICAL)
    if family == socket.AF_INET:
        return inet.ICMP, inet.IP, inet.checksum
    inet6 = scapy("scapy.layers.inet6", quiet_below=logging.CRITICAL)
    return inet6.ICMPv6EchoRequest, inet6.ICMPv6EchoReply, inet.checksum


class Session:
    """One run against one address: the socket, the counters, the loop."""

    def __init__(self, options: PingOptions, stdout, stderr, family: int):
        self.options = options
        self.stdout, self.stderr = stdout, stderr
        self.family = family
        self.prog = options.prog
        self.ident = int.from_bytes(os.urandom(2), "big")
        self.stats = out.Statistics(timing=options.datalen >= out.TIMING_BYTES,
                                    interval_ms=options.interval_ms)
        self.sock: socket.socket | None = None
        self.whereto: tuple | None = None  # the sockaddr tuple we send to
        self.address = ""  # the target's numeric address
        self.hostname = ""
        self.numeric = options.numeric
        self.exiting = False
        self._peer_cache: tuple | None = None
        self._template: bytearray | None = None
        self._layers: tuple = ()
        self.header = ""

    @property
    def _sock(self) -> socket.socket:
        """The raw socket, for what runs between its opening in set_up and close()."""
        assert self.sock is not None  # opened first in set_up; every user runs after that
        return self.sock

    # ---- set-up, in ping's order (ping4_run / ping6_run) -------------------------------------
    def set_up(self, info, last: bool) -> None:
        options, prog = self.options, self.prog
        self.whereto = info[4]
        self.address = self._numeric_host(info[4])
        if self.family == socket.AF_INET:
            self._hops_v4()
            numeric = _is_inet_aton(options.target)
            # getaddrinfo names only its first answer: ping then prints an empty host name.
            self.hostname = options.target if numeric else info[3]
            self.numeric = options.numeric or numeric
        else:
            if len(options.targets) > 1:
                raise ToolExit(out.USAGE)
            self.hostname = options.target
            self.numeric = options.numeric or ":" in options.target
        protocol = socket.IPPROTO_ICMP if self.family == socket.AF_INET else socket.IPPROTO_ICMPV6
        try:
            self.sock = socket.socket(self.family, socket.SOCK_RAW, protocol)
        except OSError as exc:
            raise ToolExit(f"{prog}: socket: {_strerror(exc)}") from None
        source = options.source
        if source is not None and (":" in source) != (self.family == socket.AF_INET6):
            source = None  # an address of the other family: ping would not bind to it either
        strict = options.source is not None
        if self.family == socket.AF_INET:
            source = self._source_v4(source, last)
        else:
            source = self._source_v6(source, last)
        if strict:
            self._bind_source(source)
        self._socket_options()
        shown = source if (options.device or strict) else None
        if self.family == socket.AF_INET:
            self.header = out.header4(self.hostname, self.address, options.datalen, shown,
                                      options.device)
        else:  # ping6 names addresses as it names peers: `localhost (::1)` for a name
            if shown is not None:
                shown = self._peer((shown, 0, 0, 0))
            self.header = out.header6(self.hostname, self._peer(self.whereto), options.datalen,
                                      shown, options.device)

    def _hops_v4(self) -> None:
        """ping4_run resolves every address given before the last (a source route)."""
        hops = self.options.targets[:-1]
        for hop in hops:
            try:
                socket.getaddrinfo(hop, None, socket.AF_INET, socket.SOCK_DGRAM, socket.IPPROTO_UDP)
            except socket.gaierror as exc:
                raise ToolExit(f"{self.prog}: {hop}: {exc.strerror}") from None
        if hops:
            raise ToolExit(f"{self.prog}: more than one address (a source route) is not supported "
                         f"by vrmonitor")

    def _bind_device(self, sock: socket.socket, message: str) -> None:
        device = self.options.device
        assert device is not None  # called only when -I named a device
        try:
            sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, device.encode() + b"\0")
        except OSError as exc:
            raise ToolExit(f"{self.prog}: {message}: {_strerror(exc)}") from None

    def _connect_probe(self, probe: socket.socket, destination, last: bool) -> str:
        """Connect a UDP socket toward the target: the source address the kernel would pick."""
        try:
            probe.connect(destination)
        except OSError as exc:
            if exc.errno == errno.EACCES:
                raise ToolExit(f"{self.prog}: Do you want to ping broadcast? Then -b. If not, "
                             f"check your local firewall rules") from None
            if exc.errno in (errno.EHOSTUNREACH, errno.ENETUNREACH) and not last:
                raise TryNext() from None
            raise ToolExit(f"{self.prog}: connect: {_strerror(exc)}") from None
        return probe.getsockname()[0]

    def _source_v4(self, source: str | None, last: bool) -> str:
        device = self.options.device
        if source is None:
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
                if device:
                    for sock in (probe, self._sock):
                        self._bind_device(sock, f"SO_BINDTODEVICE {device}")
                source = self._connect_probe(probe, (self.address, 1025), last)
            if device:
                on_device = self._device_has(device, socket.AF_INET, source)
                if on_device and source == self.address:
                    self._sock.setsockopt(socket.SOL_SOCKET, SO_BINDTODEVICE, b"")
                if not on_device:
                    self._warn(f"Warning: source address might be selected on device other "
                               f"than: {device}")
        elif device:
            self._bind_device(self._sock, f"SO_BINDTODEVICE {device}")
        return source

    def _source_v6(self, source: str | None, last: bool) -> str:
        device = self.options.device
        assert self.whereto is not None  # set_up sets it before it calls this
        scope = self.whereto[3]
        if source is None:
            with socket.socket(socket.AF_INET6, socket.SOCK_DGRAM) as probe:
                if device:
                    self._device_index(device)
                    for sock in (probe, self._sock):
                        self._bind_device(sock, f"setsockopt(SO_BINDTODEVICE) {device}")
                if _link_local(self.address):
                    # ping leaves the family of a link-local first hop unset: its connect()
                    # only dissolves the probe socket, and the source it reads back is ::.
                    source = "::"
                else:
                    source = self._connect_probe(probe, (self.address, 1025, 0, scope), last)
            if device and not self._device_has(device, socket.AF_INET6, source):
                self._warn(f"Warning: source address might be selected on device other "
                           f"than: {device}")
        elif device:
            self._device_index(device)
            if self.options.source is not None:
                self._bind_device(self._sock, f"SO_BINDTODEVICE {device}")
        return source

    def _device_index(self, device: str) -> int:
        try:
            return socket.if_nametoindex(device)
        except OSError:
            raise ToolExit(f"{self.prog}: unknown iface: {device}") from None

    @staticmethod
    def _device_has(device: str, family: int, address: str) -> bool:
        """Whether `address` is one of `device`'s addresses (ping's getifaddrs check)."""
        import ipaddress

        import netifaces

        try:
            entries = netifaces.ifaddresses(device).get(family, [])
        except ValueError:
            return False
        wanted = ipaddress.ip_address(address.split("%")[0])
        return any(ipaddress.ip_address(entry["addr"].split("%")[0]) == wanted
                   for entry in entries if "addr" in entry)

    def _bind_source(self, source: str) -> None:
        where: tuple[str, int] | tuple[str, int, int, int]
        if self.family == socket.AF_INET:
            where, what = (source, 0), "bind"
        else:
            scope = 0
            if self.options.device and _link_local(source):
                scope = self._device_index(self.options.device)
            where, what = (source, 0, 0, scope), "bind icmp socket"
        try:
            self._sock.bind(where)
        except OSError as exc:
            raise ToolExit(f"{self.prog}: {what}: {_strerror(exc)}") from None

    def _socket_options(self) -> None:
        sock, prog, ttl = self._sock, self.prog, self.options.ttl
        if self.family == socket.AF_INET:
            # Only echo replies on the normal queue; errors come through the error queue.
            sock.setsockopt(SOL_RAW, ICMP_FILTER,
                            struct.pack("I", ~(1 << out.ICMP_ECHOREPLY) & 0xFFFFFFFF))
            sock.setsockopt(socket.SOL_IP, IP_RECVERR, 1)
            if ttl is not None:
                self._setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl,
                                 "cannot set multicast time-to-live")
                self._setsockopt(socket.IPPROTO_IP, socket.IP_TTL, ttl,
                                 "cannot set unicast time-to-live")
        else:
            self._setsockopt(socket.IPPROTO_IPV6, IPV6_RECVERR, 1, "IPV6_RECVERR")
            blocked = [0xFFFFFFFF] * 8
            blocked[out.ICMP6_ECHO_REPLY >> 5] &= ~(1 << (out.ICMP6_ECHO_REPLY & 31)) & 0xFFFFFFFF
            try:
                sock.setsockopt(socket.IPPROTO_ICMPV6, ICMP6_FILTER, struct.pack("8I", *blocked))
            except OSError as exc:
                raise ToolExit(f"{prog}: setsockopt(ICMP6_FILTER): {_strerror(exc)}") from None
            if ttl is not None:
                self._setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl,
                                 "can't set multicast hop limit")
                self._setsockopt(socket.IPPROTO_IPV6, socket.IPV6_UNICAST_HOPS, ttl,
                                 "can't set unicast hop limit")
            self._setsockopt(socket.IPPROTO_IPV6, IPV6_RECVHOPLIMIT, 1, "can't receive hop limit")

    def _setsockopt(self, level: int, name: int, value: int, what: str) -> None:
        try:
            self._sock.setsockopt(level, name, value)
        except OSError as exc:
            raise ToolExit(f"{self.prog}: {what}: {_strerror(exc)}") from None

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    # ---- the run (ping_common.c main_loop, pinger, finish) -----------------------------------
    def run(self) -> int:
        options, stats = self.options, self.stats
        self._layers = layers(self.family)
        self._build_template()
        self._out(self.header)
        start = time.monotonic_ns()
        deadline_at = start + options.deadline * 1_000_000_000 if options.deadline else None
        exit_at = None
        next_send = start
        last_send = None  # ping's cur_time: when the last probe was scheduled
        poller = select.poll()
        poller.register(self._sock, select.POLLIN | select.POLLERR)
        try:
            while True:
                if options.count and stats.received + stats.errors >= options.count:
                    break
                if options.deadline and stats.errors:
                    break
                now = time.monotonic_ns()
                if deadline_at is not None and now >= deadline_at:
                    break
                if exit_at is not None and now >= exit_at:
                    break
                wake = None
                if not (options.count and stats.transmitted >= options.count and not options.deadline):
                    due = self._due(now, next_send, last_send)
                    if due is None:
                        last_send = now
                        next_send = self._send(now)
                        if (options.count and stats.transmitted >= options.count
                                and not options.deadline and exit_at is None):
                            linger_us = self._linger_us()
                            if linger_us:
                                exit_at = time.monotonic_ns() + linger_us * 1000
                        continue
                    wake = due
                times = [t for t in (wake, deadline_at, exit_at) if t is not None]
                timeout = None
                if times:
                    timeout = max(0.0, (min(times) - time.monotonic_ns()) / 1e6)
                if poller.poll(timeout):
                    self._drain()
        except KeyboardInterrupt:
            self.exiting = True
        elapsed = last_send - start if last_send is not None else 0
        self._out(stats.summary(self.hostname, elapsed))
        return stats.exit_status(options.count, options.deadline)

    def _due(self, now: int, next_send: int, last_send: int | None) -> int | None:
        """None when a probe is due now, else when the next one is (monotonic ns)."""
        interval = self.options.interval_ms
        if interval < 0 or last_send is None:
            return None
        if interval == 0:
            if self.stats.in_flight() == 0 or now - last_send >= MININTERVAL_MS * 1_000_000:
                return None
            return last_send + MININTERVAL_MS * 1_000_000
        return None if now >= next_send else next_send

    def _linger_us(self) -> int:
        """__schedule_exit: how long to wait for replies after the last probe (microseconds)."""
        if self.stats.received:
            return max(2 * self.stats.tmax, 1000 * self.options.interval_ms)
        return self.options.linger_ms * 1000

    def _build_template(self) -> None:
        """The echo request, built by scapy once: type, code, identifier, the data bytes.

        The data is ping's (byte i is i & 0xff), its first 16 bytes replaced by the send time
        at each probe; the sequence number and the checksum are set per probe.
        """
        datalen = self.options.datalen
        if datalen + 8 > MAX_PACKET:
            self._template = None  # more than any packet can carry: each send fails (EMSGSIZE)
            return
        data = bytes(i & 0xFF for i in range(datalen))
        if self.family == socket.AF_INET:
            ICMP = self._layers[0]
            packet = ICMP(type=out.ICMP_ECHO, code=0, id=self.ident, seq=0) / data
        else:
            request = self._layers[0]
            packet = request(id=self.ident, seq=0, data=data, cksum=0)  # the kernel sums ICMPv6
        self._template = bytearray(bytes(packet))

    def _probe(self, seq: int) -> bytes:
        packet = self._template
        assert packet is not None  # _send checks it before it builds a probe
        struct.pack_into("!H", packet, 6, seq)
        if self.stats.timing:
            now = time.monotonic_ns()
            struct.pack_into("=qq", packet, 8, now // 1_000_000_000, now % 1_000_000_000)
        if self.family == socket.AF_INET:
            checksum = self._layers[2]
            packet[2:4] = b"\0\0"
            struct.pack_into("!H", packet, 2, checksum(bytes(packet)))
        return bytes(packet)

    def _send(self, now: int) -> int:
        """pinger(): send the next probe; when the one after is due (monotonic ns)."""
        options, stats = self.options, self.stats
        interval_ns = max(options.interval_ms, 0) * 1_000_000
        seq = stats.sent()
        try:
            if self._template is None:
                raise OSError(errno.EMSGSIZE, os.strerror(errno.EMSGSIZE))
            assert self.whereto is not None  # set_up sets it before the run
            self._sock.sendto(self._probe(seq), self.whereto)
            return now + interval_ns
        except OSError as exc:
            failure = exc.errno
        assert failure is not None  # sendto's failures and the EMSGSIZE above carry an errno
        if failure in (errno.ENOBUFS, errno.ENOMEM, errno.EAGAIN):
            stats.transmitted -= 1  # not sent: try again a little later
            return now + min(max(interval_ns // 2, MININTERVAL_MS * 1_000_000), 500_000_000)
        _, local = self._read_errors()
        if not local and not options.quiet:
            self._warn(f"sendmsg: {os.strerror(failure)}")
        return now + max(interval_ns, MININTERVAL_MS * 1_000_000)

    def _drain(self) -> None:
        """Read what arrived: echo replies, then the error queue; stop once nothing is in
        flight (ping goes back to its loop then, which may end the run)."""
        while True:
            progressed = False
            try:
                data, ancillary, _, sender = self._sock.recvmsg(
                    MAX_PACKET + 1, 256, socket.MSG_DONTWAIT)
                received = time.monotonic_ns()
                progressed = True
                self._reply(data, ancillary, sender, received)
            except (BlockingIOError, InterruptedError):
                pass
            except OSError:
                progressed = True  # a pending socket error: its details are in the error queue
            net, local = self._read_errors()
            progressed = progressed or bool(net or local)
            if not progressed or self.stats.in_flight() == 0:
                return

    def _reply(self, data: bytes, ancillary, sender, received: int) -> None:
        options, stats = self.options, self.stats
        if self.family == socket.AF_INET:
            ICMP, IP, checksum = self._layers
            packet = IP(data)
            header = packet.ihl * 4
            if len(data) < header + 8 or packet.ihl < 5 or ICMP not in packet:
                return
            echo = packet[ICMP]
            if echo.type != out.ICMP_ECHOREPLY or echo.id != self.ident:
                return
            message = data[header:]
            ttl = packet.ttl
            corrupted = checksum(message) != 0
        else:
            reply = self._layers[1]
            if len(data) < 8 or data[0] != out.ICMP6_ECHO_REPLY:
                return
            echo = reply(data)
            if echo.id != self.ident:
                return
            message = data
            ttl = -1
            for level, kind, value in ancillary:
                if level == socket.IPPROTO_IPV6 and kind == IPV6_HOPLIMIT and len(value) >= 4:
                    ttl = struct.unpack("i", value[:4])[0]
            corrupted = False
        seq = echo.seq
        size = len(message)
        triptime = None
        if stats.timing and size >= 8 + out.TIMING_BYTES:
            seconds, nanoseconds = struct.unpack_from("=qq", message, 8)
            triptime = max(0, (received - (seconds * 1_000_000_000 + nanoseconds)) // 1000)
        duplicate = stats.reply(seq, triptime, corrupted)
        if options.quiet:
            return
        self._out(out.reply_line(size, self._peer(sender), seq, ttl, triptime, duplicate,
                                 truncated=size < options.datalen + 8, corrupted=corrupted,
                                 prefix=self._prefix()))

    def _read_errors(self) -> tuple[int, int]:
        """Read the socket's error queue (ping's receive_error_msg, until it is empty):
        (ICMP errors about our probes, local errors)."""
        net = local = 0
        while True:
            try:
                data, ancillary, _, target = self._sock.recvmsg(
                    MAX_PACKET + 1, 512, MSG_ERRQUEUE | socket.MSG_DONTWAIT)
            except (BlockingIOError, InterruptedError):
                return net, local
            except OSError:
                return net, local
            level, kind = ((socket.SOL_IP, IP_RECVERR) if self.family == socket.AF_INET
                           else (socket.IPPROTO_IPV6, IPV6_RECVERR))
            extended = next((value for lvl, typ, value in ancillary
                             if lvl == level and typ == kind and len(value) >= 16), None)
            if extended is None:
                continue
            error, origin, icmp_type, icmp_code, _, info, _ = struct.unpack_from("=IBBBBII", extended)
            if origin == SO_EE_ORIGIN_LOCAL:
                local += 1
                if self.options.quiet:
                    continue
                if error != errno.EMSGSIZE:
                    self._warn(f"local error: {os.strerror(error)}")
                elif self.family == socket.AF_INET:
                    self._warn(f"local error: message too long, mtu={info}")
                else:
                    self._warn(f"local error: message too long, mtu: {info}")
                self.stats.errors += 1
            elif origin in (SO_EE_ORIGIN_ICMP, SO_EE_ORIGIN_ICMP6):
                seq = self._our_probe(data, target)
                if seq is None:
                    continue
                net += 1
                if self.family == socket.AF_INET:
                    self.stats.acknowledge(seq)  # ping6 does not count errors in the pipe
                self.stats.errors += 1
                if self.options.quiet:
                    continue
                reporter = self._peer(self._offender(extended[16:]))
                text = (out.icmp4_text if self.family == socket.AF_INET else out.icmp6_text)(
                    icmp_type, icmp_code, info)
                self._out(out.error_line(reporter, seq, text, self._prefix()))

    def _our_probe(self, quoted: bytes, target) -> int | None:
        """The sequence number of the echo request an ICMP error quotes, if it is one of ours."""
        if len(quoted) < 8 or target is None or self._numeric_host(target) != self.address:
            return None
        if self.family == socket.AF_INET:
            request = self._layers[0](quoted)
            kind = out.ICMP_ECHO
        else:
            request = self._layers[0](quoted)
            kind = out.ICMP6_ECHO_REQUEST
        if request.type != kind or request.id != self.ident:
            return None
        return request.seq

    def _offender(self, raw: bytes):
        """The sockaddr after sock_extended_err: who sent the ICMP error."""
        if self.family == socket.AF_INET:
            return socket.inet_ntop(socket.AF_INET, raw[4:8]), 0
        _, _, flowinfo, address, scope = struct.unpack_from("=HHI16sI", raw)
        return socket.inet_ntop(socket.AF_INET6, address), 0, flowinfo, scope

    # ---- output -------------------------------------------------------------------------------
    def _numeric_host(self, sockaddr) -> str:
        if self.family == socket.AF_INET6 and len(sockaddr) >= 4 and sockaddr[3]:
            return socket.getnameinfo(sockaddr[:2] + (0, sockaddr[3]), socket.NI_NUMERICHOST)[0]
        return sockaddr[0]

    def _peer(self, sockaddr) -> str:
        """pr_addr: the bare address with -n or a numeric target, else `name (address)`."""
        key = tuple(sockaddr[:1]) + tuple(sockaddr[3:4])
        if self._peer_cache is not None and self._peer_cache[0] == key:
            return self._peer_cache[1]
        address = self._numeric_host(sockaddr)
        name = ""
        if not self.exiting and not self.numeric:
            try:
                query = sockaddr[:2] if self.family == socket.AF_INET else (
                    sockaddr[0], 0, 0, sockaddr[3] if len(sockaddr) > 3 else 0)
                name = socket.getnameinfo(query, 0)[0]
            except (socket.gaierror, OSError):
                name = ""
        text = f"{name} ({address})" if name else address
        self._peer_cache = (key, text)
        return text

    def _prefix(self) -> str:
        return out.timestamp_prefix() if self.options.timestamps else ""

    def _out(self, text: str) -> None:
        write(self.stdout, text)

    def _warn(self, text: str) -> None:
        write(self.stderr, f"{self.prog}: {text}\n")


def _strerror(exc: OSError) -> str:
    """os.strerror() of a failed system call's errno (an OSError from one always has it)."""
    assert exc.errno is not None
    return os.strerror(exc.errno)


def _is_inet_aton(text: str) -> bool:
    try:
        socket.inet_aton(text)
    except OSError:
        return False
    return True


def _link_local(address: str) -> bool:
    """A link-local unicast or multicast IPv6 address (IN6_IS_ADDR_LINKLOCAL, _MC_LINKLOCAL)."""
    import ipaddress

    try:
        ip = ipaddress.IPv6Address(address.split("%")[0])
    except ValueError:
        return False
    return ip.is_link_local or (ip.is_multicast and (ip.packed[1] & 0x0F) == 2)
