"""consoleproxy_listeners_check.py (basic, console proxy VM): its ports listen, its command
port answers, and the firewall lets the websocket port in (contract 10.7).

Main port: 443 with `premium=true`, else `httpListenPort` of consoleproxy.properties (80).
Websocket port: /root/vncport (8080 when unreadable), with a TLS handshake when it is 8443.
Command port: `GET /cmd/getstatus` on 127.0.0.1:8001 must give 200 and JSON whose
`connections` is a list (the active sessions). Firewall: `iptables-save -t filter` must hold an
INPUT rule with `-i eth2`, `--dport <websocket port>` and `-j ACCEPT` (CloudStack #8332:
the CPVM's INPUT policy is DROP). All probes go to loopback, where the proxy also listens.
"""

import json
import os
import shutil
import socket

from vrmonitor.checks.iptables import SBIN
from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.checks.systemvm import failure_reason, on_roles, tcp_reason, tls_reason
from vrmonitor.cloudstack.cmdline import BootArgs
from vrmonitor.errors import CommandError
from vrmonitor.paths import Paths
from vrmonitor.system.process import run

NAME = "consoleproxy_listeners_check.py"
KIND = "basic"
LOCAL = "127.0.0.1"
COMMAND_PORT = 8001
DEFAULT_WEBSOCKET = 8080
TLS_WEBSOCKET = 8443
DEADLINE = 3.0
PROPERTIES = "/usr/local/cloud/systemvm/conf/consoleproxy.properties"


def main_port(paths: Paths, boot: BootArgs) -> int:
    if boot.get("premium") == "true":
        return 443
    try:
        text = paths.under(PROPERTIES).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return 80
    for line in text.splitlines():
        key, _, value = line.partition("=")
        if key.strip() == "consoleproxy.httpListenPort" or key.strip() == "httpListenPort":
            if value.strip().isdigit() and 0 < int(value.strip()) < 65536:
                return int(value.strip())
    return 80


def websocket_port(paths: Paths) -> int:
    try:
        value = paths.vncport.read_text().strip()
    except OSError:
        return DEFAULT_WEBSOCKET
    return int(value) if value.isdigit() and 0 < int(value) < 65536 else DEFAULT_WEBSOCKET


def sessions(host: str = LOCAL, port: int = COMMAND_PORT, timeout: float = DEADLINE) -> int:
    """The number of active sessions /cmd/getstatus reports; ValueError/OSError say why not."""
    with socket.create_connection((host, port), timeout=timeout) as stream:
        stream.settimeout(timeout)
        stream.sendall(b"GET /cmd/getstatus HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n")
        data = b""
        while len(data) < 1 << 20 and (chunk := stream.recv(65536)):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    status = head.split(b"\r\n", 1)[0].split()
    if len(status) < 2 or not status[0].startswith(b"HTTP/"):
        raise ValueError("not an HTTP answer")
    if status[1] != b"200":
        raise ValueError(f"HTTP status {status[1].decode('ascii', 'replace')}")
    try:
        document = json.loads(body)
    except ValueError as exc:
        raise ValueError("the answer is not JSON") from exc
    if not isinstance(document, dict) or not isinstance(document.get("connections"), list):
        raise ValueError("the answer has no connections list")
    return len(document["connections"])


def firewall_rules() -> str:
    """The filter table as iptables-save prints it; CommandError when it cannot be read."""
    search = os.pathsep.join([os.environ.get("PATH", os.defpath), *SBIN])  # cron's PATH has no sbin
    done = run([shutil.which("iptables-save", path=search) or "iptables-save", "-t", "filter"],
               timeout=DEADLINE)
    if done.timed_out or done.returncode != 0:
        detail = done.stderr.decode("utf-8", "replace").strip() or f"exit status {done.returncode}"
        raise CommandError(f"iptables-save failed: {detail}")
    return done.stdout.decode("utf-8", "replace")


def allows(rules: str, port: int) -> bool:
    """Whether an INPUT rule accepts `port` arriving on eth2."""
    for line in rules.splitlines():
        words = line.split()
        if words[:2] != ["-A", "INPUT"]:
            continue
        pairs = set(zip(words, words[1:]))
        if ("-i", "eth2") in pairs and ("--dport", str(port)) in pairs and ("-j", "ACCEPT") in pairs:
            return True
    return False


def judge(paths: Paths, boot: BootArgs, listening=tcp_reason, handshake=tls_reason,
          status=sessions, rules=firewall_rules) -> tuple[str, bool]:
    console, websocket = main_port(paths, boot), websocket_port(paths)
    lines = []
    if listening(LOCAL, console, DEADLINE) is not None:
        lines.append(f"Console proxy port {console} is not listening")
    try:
        count = status()
    except (OSError, ValueError) as exc:
        reason = failure_reason(exc, DEADLINE) if isinstance(exc, OSError) else str(exc)
        lines.append(f"Console proxy command port {COMMAND_PORT} did not answer /cmd/getstatus: {reason}")
        count = 0
    probe = handshake if websocket == TLS_WEBSOCKET else listening
    why = probe(LOCAL, websocket, DEADLINE)
    if why is not None:
        lines.append(f"Console proxy websocket port {websocket} is not listening"
                     + (f": {why}" if why.startswith("TLS") else ""))
    try:
        text = rules()
    except CommandError as exc:
        lines.append(f"Cannot read the firewall rules: {exc}")
    else:
        if not allows(text, websocket):
            lines.append(f"Console proxy websocket port {websocket} is not allowed by iptables on eth2")
    if lines:
        return "\n".join(lines), False
    return (f"Console proxy listening on {console}, websocket {websocket} and command port "
            f"{COMMAND_PORT} with {count} active sessions"), True


def main(argv: list[str], root: str) -> int:
    return on_roles(argv, root, KIND, CHECK_ROLES[NAME],
                    lambda paths, boot, limits: judge(paths, boot), wait_for_boot=True)
