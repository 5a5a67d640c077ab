"""systemvm_dns_check.py (advanced, secondary storage VM): every name server of
/etc/resolv.conf answers, and the check name resolves (contract 10.7).

ssvm-check.sh pinged the first name server and ran `nslookup cloudstack.apache.org`. Here each
`nameserver` is asked for the A record of `dnsCheckName` over UDP, all at once, 3 s each: a
server that does not answer is named; the name must resolve through at least one of them.
"""

import ipaddress
import secrets
import socket
import struct
from concurrent.futures import ThreadPoolExecutor

from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.checks.systemvm import Thresholds, on_roles
from vrmonitor.cloudstack.cmdline import BootArgs
from vrmonitor.paths import Paths

NAME = "systemvm_dns_check.py"
KIND = "advanced"
SKIP = "No DNS check name configured, skipping"
DEADLINE = 3.0
PORT = 53
RCODES = {1: "format error", 2: "server failure", 3: "no such name (NXDOMAIN)", 4: "not implemented",
          5: "refused"}


def nameservers(paths: Paths) -> list[str]:
    try:
        text = paths.resolv_conf.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return []
    found = []
    for line in text.splitlines():
        words = line.split()
        if len(words) >= 2 and words[0] == "nameserver" and words[1] not in found:
            found.append(words[1])
    return found


def query(name: str) -> tuple[int, bytes]:
    ident = secrets.randbelow(1 << 16)
    labels = b"".join(bytes([len(part)]) + part.encode("idna") for part in name.rstrip(".").split("."))
    return ident, struct.pack("!HHHHHH", ident, 0x0100, 1, 0, 0, 0) + labels + b"\0" + struct.pack("!HH", 1, 1)


def _skip_name(data: bytes, offset: int) -> int:
    while True:
        length = data[offset]
        if length & 0xC0 == 0xC0:
            return offset + 2
        offset += 1 + length
        if length == 0:
            return offset


def addresses(data: bytes, ident: int) -> tuple[list[str], str | None]:
    """(A record addresses, None) or ([], why not) from a DNS answer."""
    if len(data) < 12:
        raise ValueError("short answer")
    got, flags, questions, answers = struct.unpack("!HHHH", data[:8])
    if got != ident or not flags & 0x8000:
        raise ValueError("not the answer to this query")
    rcode = flags & 0x0F
    if rcode:
        return [], RCODES.get(rcode, f"error code {rcode}")
    offset = 12
    for _ in range(questions):
        offset = _skip_name(data, offset) + 4
    found = []
    for _ in range(answers):
        offset = _skip_name(data, offset)
        kind, _klass, _ttl, length = struct.unpack("!HHIH", data[offset:offset + 10])
        offset += 10
        if kind == 1 and length == 4:
            found.append(str(ipaddress.IPv4Address(data[offset:offset + 4])))
        offset += length
    return found, (None if found else "no A record")


def ask(server: str, name: str, timeout: float = DEADLINE) -> tuple[list[str], str | None] | None:
    """The answer of one server, None when it gave none within `timeout`."""
    ident, packet = query(name)
    family = socket.AF_INET6 if ":" in server else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect((server, PORT))
            sock.send(packet)
            while True:
                try:
                    return addresses(sock.recv(4096), ident)
                except (ValueError, struct.error, IndexError):
                    continue  # a stray or damaged datagram: wait for the real answer
        except (socket.timeout, OSError):
            return None


def judge(paths: Paths, boot: BootArgs, limits: Thresholds, resolve=ask) -> tuple[str, bool]:
    name = limits.dns_check_name
    if not name:
        return SKIP, True
    servers = nameservers(paths)
    if not servers:
        return f"{name} does not resolve: no nameserver in /etc/resolv.conf", False
    with ThreadPoolExecutor(max_workers=min(8, len(servers))) as pool:
        answers = list(pool.map(lambda server: resolve(server, name), servers))
    lines = [f"DNS server {server} did not answer within {DEADLINE:g} s"
             for server, got in zip(servers, answers) if got is None]
    found = next((got[0][0] for got in answers if got and got[0]), None)
    if found is None:
        reasons = [got[1] for got in answers if got and got[1]]
        lines.append(f"{name} does not resolve: {reasons[0] if reasons else 'no DNS server answered'}")
    if lines:
        return "\n".join(lines), False
    return f"All {len(servers)} DNS servers answer, {name} resolves to {found}", True


def main(argv: list[str], root: str) -> int:
    return on_roles(argv, root, KIND, CHECK_ROLES[NAME], judge)


