"""Functional probes: is a running daemon actually serving? Alive but not serving = degraded.

Each probe does the least a client would do: one DNS query, a TCP connect, one HTTP request,
reading the SSH banner. Any well-formed answer counts as serving (a DNS REFUSED, an HTTP 500):
the question is whether the daemon answers, not whether its content is right. Standard
library only; addresses are numeric (no name lookups).
"""

import os
import socket
import struct
from dataclasses import dataclass

from vrmonitor.clock import SystemClock

# processname -> (kind, default port); haproxy's ports come from its configuration.
DEFAULT_PROBES: dict[str, tuple[str, int | None]] = {
    "dnsmasq": ("dns", 53),
    "haproxy": ("tcp", None),
    "sshd": ("ssh", 22),
    "apache2": ("http", 80),
}
KINDS = ("dns", "tcp", "http", "ssh", "none")
KIND_PORTS = {"dns": 53, "http": 80, "ssh": 22}

BANNER_LIMIT = 8192  # RFC 4253 4.2: lines before the version line are allowed; stop somewhere
DNS_QUERY_NAME = "localhost"
_DNS_RCODES = {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}


@dataclass(frozen=True)
class ProbeResult:
    ok: bool
    detail: str  # what was tried and what happened


class _Failed(Exception):
    """The probe failed; str() is the detail."""


def probe(kind: str, port: int | None = None, host: str = "127.0.0.1",
          timeout: float = 2.0, clock=SystemClock()) -> ProbeResult:
    """Probe the service at host:port with `kind` (dns, tcp, http, ssh, none).

    `port` defaults to the kind's usual port (dns 53, http 80, ssh 22); a tcp probe needs one.
    Raises ValueError for an unknown kind or a tcp probe without a port.
    """
    if kind not in KINDS:
        raise ValueError(f"unknown probe kind {kind!r}; known: {', '.join(KINDS)}")
    if kind == "none":
        return ProbeResult(True, "no probe")
    if port is None:
        port = KIND_PORTS.get(kind)
        if port is None:
            raise ValueError(f"a {kind} probe needs a port")
    target = _target(host, port)
    deadline = _Deadline(clock, timeout)
    try:
        if kind == "dns":
            detail = _dns(host, port, deadline, timeout)
        elif kind == "tcp":
            _connect(host, port, deadline, timeout, "tcp connect").close()
            detail = f"tcp connect to {target} succeeded"
        elif kind == "http":
            detail = _http(host, port, deadline, timeout)
        else:
            detail = _ssh(host, port, deadline, timeout)
    except _Failed as failure:
        return ProbeResult(False, str(failure))
    return ProbeResult(True, detail)


def _seconds(value: float) -> str:
    return str(float(value))


def _target(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _address(host: str, port: int, socktype: int) -> tuple[int, tuple]:
    """Family and socket address of a numeric host (never a name lookup)."""
    try:
        family, _, _, _, sockaddr = socket.getaddrinfo(
            host, port, type=socktype, flags=socket.AI_NUMERICHOST | socket.AI_NUMERICSERV)[0]
    except socket.gaierror as exc:
        raise _Failed(f"probe address {host!r} is not a numeric IP address: {exc}") from None
    return family, sockaddr


class _Deadline:
    """The probe's whole budget: every socket wait gets what is left of it."""

    def __init__(self, clock, seconds: float):
        self._clock = clock
        self._at = clock.monotonic() + seconds

    def remaining(self) -> float:
        return max(self._at - self._clock.monotonic(), 0.001)


def _problem(exc: OSError, what: str, target: str, timeout: float) -> _Failed:
    """A readable failure for an OSError raised while doing `what` to `target`."""
    if isinstance(exc, (socket.timeout, TimeoutError)):
        return _Failed(f"{what} to {target} timed out after {_seconds(timeout)} s")
    if isinstance(exc, ConnectionRefusedError):
        return _Failed(f"{what} to {target} refused: nothing listening")
    if isinstance(exc, ConnectionResetError):
        return _Failed(f"{what} to {target}: connection reset by the server")
    return _Failed(f"{what} to {target} failed: {exc.strerror or exc}")


def _connect(host: str, port: int, deadline: _Deadline, timeout: float, what: str) -> socket.socket:
    family, sockaddr = _address(host, port, socket.SOCK_STREAM)
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.settimeout(deadline.remaining())
        sock.connect(sockaddr)
    except OSError as exc:
        sock.close()
        raise _problem(exc, what, _target(host, port), timeout) from None
    return sock


def _read_line(sock: socket.socket, buffered: bytearray, deadline: _Deadline) -> bytes | None:
    """The next line (without CR LF) from `sock`; None at EOF. Timeouts raise OSError."""
    while True:
        end = buffered.find(b"\n")
        if end >= 0:
            line = bytes(buffered[:end]).rstrip(b"\r")
            del buffered[:end + 1]
            return line
        if len(buffered) >= BANNER_LIMIT:
            line = bytes(buffered)
            buffered.clear()
            return line
        sock.settimeout(deadline.remaining())
        chunk = sock.recv(BANNER_LIMIT)
        if not chunk:
            return None if not buffered else _take_all(buffered)
        buffered += chunk


def _take_all(buffered: bytearray) -> bytes:
    line = bytes(buffered).rstrip(b"\r")
    buffered.clear()
    return line


def _shown(line: bytes) -> str:
    return line[:120].decode("ascii", "backslashreplace")


def _ssh(host: str, port: int, deadline: _Deadline, timeout: float) -> str:
    target = _target(host, port)
    with _connect(host, port, deadline, timeout, "ssh connect") as sock:
        buffered = bytearray()
        received = 0
        try:
            while received < BANNER_LIMIT:
                line = _read_line(sock, buffered, deadline)
                if line is None:
                    raise _Failed(f"ssh server at {target} closed the connection without a banner")
                if line.startswith(b"SSH-"):
                    return f"ssh banner from {target}: {_shown(line)}"
                received += len(line) + 1
        except OSError as exc:
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise _Failed(f"ssh banner from {target} not received within "
                              f"{_seconds(timeout)} s") from None
            raise _problem(exc, "ssh banner read", target, timeout) from None
    raise _Failed(f"ssh server at {target} sent {BANNER_LIMIT} bytes without an SSH- banner")


def _http(host: str, port: int, deadline: _Deadline, timeout: float) -> str:
    target = _target(host, port)
    host_header = target if port != 80 else (f"[{host}]" if ":" in host else host)
    request = (f"GET / HTTP/1.0\r\nHost: {host_header}\r\nUser-Agent: vrmonitor-probe\r\n"
               "Connection: close\r\n\r\n").encode("ascii")
    with _connect(host, port, deadline, timeout, "http connect") as sock:
        try:
            sock.settimeout(deadline.remaining())
            sock.sendall(request)
            line = _read_line(sock, bytearray(), deadline)
        except OSError as exc:
            if isinstance(exc, (socket.timeout, TimeoutError)):
                raise _Failed(f"http GET / to {target}: no status line within "
                              f"{_seconds(timeout)} s") from None
            raise _problem(exc, "http GET /", target, timeout) from None
    if line is None or not line:
        raise _Failed(f"http GET / to {target}: connection closed without a response")
    if not line.startswith(b"HTTP/"):
        raise _Failed(f"http GET / to {target}: not an HTTP response: {_shown(line)!r}")
    return f"http GET / to {target}: {_shown(line)}"


def _dns_query(query_id: int) -> bytes:
    """A standard query, recursion desired, for DNS_QUERY_NAME IN A."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    qname = b"".join(struct.pack("!B", len(label)) + label
                     for label in DNS_QUERY_NAME.encode("ascii").split(b".")) + b"\0"
    return header + qname + struct.pack("!HH", 1, 1)


def _dns(host: str, port: int, deadline: _Deadline, timeout: float) -> str:
    target = _target(host, port)
    family, sockaddr = _address(host, port, socket.SOCK_DGRAM)
    query_id = struct.unpack("!H", os.urandom(2))[0]
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        try:
            sock.connect(sockaddr)
            sock.send(_dns_query(query_id))
            while True:
                sock.settimeout(deadline.remaining())
                reply = sock.recv(4096)
                if len(reply) < 12:
                    continue
                reply_id, flags = struct.unpack("!HH", reply[:4])
                if reply_id == query_id and flags & 0x8000:
                    rcode = flags & 0x000F
                    name = _DNS_RCODES.get(rcode, str(rcode))
                    return f"dns query to {target} answered: {name}"
        except OSError as exc:
            raise _problem(exc, "dns query", target, timeout) from None
