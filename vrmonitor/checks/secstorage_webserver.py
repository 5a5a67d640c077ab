"""secstorage_webserver_check.py (basic, secondary storage VM): apache2 serves the templates
(contract 10.7).

apache2 listens on the public address only (ports 80, and 443 with `sslcopy=true`). The check
sends `HEAD / HTTP/1.0` there (over TLS on 443, certificate not verified: that is
systemvm_certificate_check.py's job); any HTTP status line is an answer. 5 s per port.
"""

import socket
import ssl

from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.checks.systemvm import failure_reason, on_roles
from vrmonitor.cloudstack.cmdline import BootArgs
from vrmonitor.paths import Paths
from vrmonitor.system.identity import pids_named

NAME = "secstorage_webserver_check.py"
KIND = "basic"
DEADLINE = 5.0


def head_reason(host: str, port: int, tls: bool, timeout: float = DEADLINE) -> str | None:
    """None when host:port answers HEAD / with an HTTP status line, else why not."""
    try:
        with socket.create_connection((host, port), timeout=timeout) as raw:
            raw.settimeout(timeout)
            if tls:
                context = ssl.create_default_context()
                context.check_hostname = False
                context.verify_mode = ssl.CERT_NONE
                stream: socket.socket = context.wrap_socket(raw, server_hostname=None)
            else:
                stream = raw
            with stream:
                stream.sendall(b"HEAD / HTTP/1.0\r\n\r\n")
                first = stream.recv(64)
    except OSError as exc:
        return failure_reason(exc, timeout, tls="TLS failed")
    if not first.startswith(b"HTTP/"):
        return f"not an HTTP answer: {first[:20]!r}" if first else "connection closed without an answer"
    return None


def judge(paths: Paths, boot: BootArgs, running=pids_named, reason=head_reason) -> tuple[str, bool]:
    if not running("apache2"):
        return "apache2 is not running", False
    address = boot.public_ip
    if address is None:
        return "No public address (eth2ip or eth1ip) in /var/cache/cloud/cmdline", False
    ports = [(80, False)] + ([(443, True)] if boot.get("sslcopy") == "true" else [])
    failures = []
    for port, tls in ports:
        why = reason(address, port, tls)
        if why is not None:
            failures.append(f"Template web server not answering on {address}:{port}: {why}")
    if failures:
        return "\n".join(failures), False
    return "Template web server answering on " + " and ".join(f"{address}:{port}" for port, _ in ports), True


def main(argv: list[str], root: str) -> int:
    return on_roles(argv, root, KIND, CHECK_ROLES[NAME], lambda paths, boot, limits: judge(paths, boot))
