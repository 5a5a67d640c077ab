"""dhcp_check.py (advanced): every running VM has its DHCP entry in /etc/dhcphosts.txt.

Contract 3.5. The management server sends one `virtualMachines` record per running VM and NIC
(vmName, macAddress, ip, and from newer servers dhcp/dns flags). The router's CsDhcp writes one
dnsmasq dhcp-host line per VM: `mac,ip,name,lease` for the default NIC and
`mac,set:<ip with . -> _>,ip,name,lease` for the others.

Matching is what dnsmasq itself does with such a line, which accepts the reference's two forms
and a little more, all of it lines dnsmasq would serve the VM from:
  * MAC addresses compare case-insensitively (dnsmasq parses them as hex numbers; the router
    writes lower case, but an upper-case line serves the VM all the same), host names too
    (DNS names are case-insensitive); IPs compare as addresses.
  * fields are recognised by their form, not their position: a line without a lease time, or
    with extra `set:`/`tag:`/`id:` fields, still counts. A line marked `ignore` does not.
Fixed against the reference: a missing file is empty (it crashed), records with dhcp=false are
skipped and not counted (a record without the flag is checked, where the newest reference
crashed), and each missing VM is followed by what the file holds for its MAC, IP or name
(issue #8177: the alert must say why).

"""

import ipaddress
import re
from dataclasses import dataclass

from vrmonitor.checks.context import on_records, read_lines, same_ip
from vrmonitor.checks.guests import KEY, GuestFile, VirtualMachine, missing_report, virtual_machines
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

KIND = "advanced"
VM_PATH = "/etc/dhcphosts.txt"

SKIP = "No VMs running data available, skipping"
PASSED = "All {count} VMs are present in dhcphosts.txt"
FAILED = "Missing elements in dhcphosts.txt - "

MAC = re.compile(r"^[0-9a-fA-F]{1,2}([:-][0-9a-fA-F]{1,2}){5}$")
LEASE = re.compile(r"^(infinite|\d+[smhdw]?)$", re.IGNORECASE)
DHCPHOSTS = GuestFile(VM_PATH, PASSED, FAILED, lambda vm: f"{vm.mac} {vm.ip} {vm.name}",
                      "MAC, IP and name", "MAC, IP or name")


@dataclass(frozen=True)
class HostLine:
    """One dhcp-host line of dhcphosts.txt, its fields sorted by what they are."""

    number: int
    text: str
    macs: tuple[str, ...]
    ips: tuple[str, ...]
    names: tuple[str, ...]
    ignored: bool

    @classmethod
    def parse(cls, number: int, text: str) -> "HostLine":
        macs, ips, names, ignored = [], [], [], False
        for field in (part.strip() for part in text.split(",")):
            if not field or field.startswith(("set:", "tag:", "id:", "net:")) or field == "*":
                continue
            if field.lower() == "ignore":
                ignored = True
            elif MAC.match(field):
                macs.append(field.replace("-", ":").lower())
            elif _is_ipv4(field):
                ips.append(field)
            elif field.startswith("[") or LEASE.match(field):
                continue  # an IPv6 address or a lease time
            else:
                names.append(field.lower())
        return cls(number, text.strip(), tuple(macs), tuple(ips), tuple(names), ignored)

    def serves(self, vm: VirtualMachine) -> bool:
        return (not self.ignored and vm.mac.lower() in self.macs
                and any(same_ip(ip, vm.ip) for ip in self.ips) and vm.name.lower() in self.names)

    def mentions(self, vm: VirtualMachine) -> bool:
        return (vm.mac.lower() in self.macs or any(same_ip(ip, vm.ip) for ip in self.ips)
                or vm.name.lower() in self.names)


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


def parse_dhcphosts(lines: list[str]) -> list[HostLine]:
    return [HostLine.parse(number, text) for number, text in enumerate(lines, 1)
            if text.strip() and not text.lstrip().startswith("#")]


def check(vms: list[VirtualMachine], lines: list[str] | None) -> tuple[str, bool]:
    """The message and verdict for `vms` against dhcphosts.txt's lines (None: no file)."""
    return missing_report(vms, parse_dhcphosts(lines or []), lines is None, DHCPHOSTS)


def judge(paths: Paths, records: list[dict[str, str]]) -> tuple[str, bool]:
    vms, problems = virtual_machines(records, "dhcp", ("vmName", "macAddress", "ip"))
    if problems:
        raise ConfigError(KEY, problems)
    return check(vms, read_lines(paths.dhcphosts, VM_PATH))


def main(argv: list[str], root: str) -> int:
    return on_records(argv, root, KIND, KEY, SKIP, judge)
