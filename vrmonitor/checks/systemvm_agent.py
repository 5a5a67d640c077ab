"""systemvm_agent_check.py (basic, SSVM and CPVM): the agent is connected to a management
server (contract 10.7).

The agent is the process with `com.cloud.agent.AgentShell` in its command line (ssvm-check.sh
counted any java process). Connected = one of its sockets is ESTABLISHED to the `port` boot
argument (8250), read from /proc/<pid>/net/tcp and tcp6 of the agent's own network namespace.
Not connected: each `host` is tried on that port (3 s), one line each. ssvm-check.sh's own port
test tested the status of the last command of a pipeline and so never failed.
"""

import ipaddress
import os

from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.checks.systemvm import on_roles, reach_lines
from vrmonitor.cloudstack.cmdline import BootArgs
from vrmonitor.errors import CommandError
from vrmonitor.paths import Paths
from vrmonitor.system.process import run
from vrmonitor.system.proc_search import pids_with_argument

NAME = "systemvm_agent_check.py"
KIND = "basic"
AGENT_CLASS = "com.cloud.agent.AgentShell"
ESTABLISHED = "01"


def socket_inodes(pid: int, proc: str = "/proc") -> set[str]:
    """The inodes of the process's sockets (empty when it is gone or not readable)."""
    found: set[str] = set()
    try:
        names = os.listdir(f"{proc}/{pid}/fd")
    except OSError:
        return found
    for name in names:
        try:
            target = os.readlink(f"{proc}/{pid}/fd/{name}")
        except OSError:
            continue
        if target.startswith("socket:["):
            found.add(target[8:-1])
    return found


def _address(hex_address: str) -> str:
    """/proc/net/tcp's address (host byte order words) as text."""
    raw = bytes.fromhex(hex_address)
    words = b"".join(raw[i:i + 4][::-1] for i in range(0, len(raw), 4))
    address = ipaddress.ip_address(words)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return str(address.ipv4_mapped)
    return str(address)


def established_to(pid: int, port: int, proc: str = "/proc") -> list[str]:
    """`ip:port` of the process's ESTABLISHED TCP connections to remote `port`."""
    inodes = socket_inodes(pid, proc)
    found = []
    for table in ("tcp", "tcp6"):
        try:
            with open(f"{proc}/{pid}/net/{table}") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            fields = line.split()
            if len(fields) < 10 or fields[3] != ESTABLISHED or fields[9] not in inodes:
                continue
            remote, remote_port = fields[2].split(":")
            if int(remote_port, 16) == port:
                found.append(f"{_address(remote)}:{port}")
    return found


def service_state(name: str = "cloud") -> str:
    """systemd's ActiveState of the unit, or `state unknown` where systemctl cannot tell."""
    try:
        done = run(["systemctl", "is-active", name], timeout=3.0)
    except CommandError:  # no systemctl (SysV): the unit's state is unknown
        return "state unknown"
    state = done.stdout.decode("utf-8", "replace").strip()
    return state or "state unknown"


def judge(paths: Paths, boot: BootArgs, proc: str = "/proc", reach=reach_lines,
          state=service_state) -> tuple[str, bool]:
    port = boot.agent_port
    agents = pids_with_argument(AGENT_CLASS.encode(), proc)
    if not agents:
        return f"Agent process {AGENT_CLASS} is not running (cloud service {state()})", False
    for pid in agents:
        connected = established_to(pid, port, proc)
        if connected:
            return f"Agent connected to management server {connected[0]}", True
    lines = [f"Agent is not connected to a management server on port {port}"]
    lines += reach(boot.management_servers, port, lambda host: f"{host}:{port}")
    return "\n".join(lines), False


def main(argv: list[str], root: str, proc: str = "/proc") -> int:
    return on_roles(argv, root, KIND, CHECK_ROLES[NAME],
                    lambda paths, boot, limits: judge(paths, boot, proc), wait_for_boot=True)
