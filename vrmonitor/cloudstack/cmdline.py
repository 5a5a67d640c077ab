"""/var/cache/cloud/cmdline: the boot arguments of a CloudStack system VM (contract 10.2, 10.3).

One line of space-separated `key=value` tokens, written before the role's setup. Each token is
split on its first `=` (CloudStack's shell readers keep only the text up to a second `=` and so
cut base64 values short; a value here is kept whole). A token without `=` is ignored. The role
is the `type` value; an absent file or an absent `type` is an unknown role (None).

`/etc/cloudstack/cmdline.json` exists on routers only and is not read here.
"""

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Mapping

from vrmonitor.cloudstack.cmdline_file import name_of, parse_tokens, read_tokens, role_of
from vrmonitor.paths import Paths

ROUTER_ROLES = ("router", "vpcrouter", "dhcpsrvr")
SECSTORAGE, CONSOLEPROXY = "secstorage", "consoleproxy"
SYSTEM_VM_ROLES = (SECSTORAGE, CONSOLEPROXY)


def parse_cmdline(text: str) -> Mapping[str, str]:
    """key -> value of every `key=value` token (a later key wins, as a shell reader's would)."""
    return MappingProxyType(parse_tokens(text))


@dataclass(frozen=True)
class BootArgs:
    """The boot arguments; `present` is False when the file did not exist or was unreadable."""

    args: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    present: bool = False

    def get(self, key: str, default: str = "") -> str:
        return self.args.get(key, default)

    @property
    def role(self) -> str | None:
        """`type`: router, vpcrouter, secstorage, consoleproxy, ...; None when unknown."""
        return role_of(self.args)

    @property
    def name(self) -> str | None:
        """The instance name (`r-4-VM`, `s-1-VM`, `v-2-VM`), None when absent."""
        return name_of(self.args)

    @property
    def is_system_vm(self) -> bool:
        """The secondary storage VM or the console proxy VM (not a router)."""
        return self.role in SYSTEM_VM_ROLES

    @property
    def redundant(self) -> bool:
        """A router of a redundant pair (`redundant_router=true`, or `1` on older templates)."""
        return self.args.get("redundant_router", "").lower() in ("true", "1")

    @property
    def management_servers(self) -> list[str]:
        """`host`: the management server addresses, in order."""
        return [host for host in self.args.get("host", "").split(",") if host]

    @property
    def agent_port(self) -> int:
        """`port`: the agent port (8250 when absent or not a number)."""
        value = self.args.get("port", "")
        return int(value) if value.isdigit() and 0 < int(value) < 65536 else 8250

    @property
    def public_ip(self) -> str | None:
        """eth2ip, or eth1ip when eth2ip is absent or 0.0.0.0 (contract 10.3)."""
        eth2 = self.args.get("eth2ip", "")
        if eth2 and eth2 != "0.0.0.0":
            return eth2
        return self.args.get("eth1ip") or None

    def addresses(self, key: str) -> list[str]:
        """A comma-separated list value (`secondaryStorageServerAddress`), blanks dropped."""
        return [item.strip() for item in self.args.get(key, "").split(",") if item.strip()]


def read_cmdline(paths: Paths) -> BootArgs:
    """The boot arguments under this root; empty (role unknown) when the file cannot be read."""
    tokens = read_tokens(str(paths.root))
    return BootArgs() if tokens is None else BootArgs(MappingProxyType(tokens), present=True)
