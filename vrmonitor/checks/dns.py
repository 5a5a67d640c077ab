"""dns_check.py (advanced): every running VM resolves by name through the router's /etc/hosts.

Contract 3.5. The router's CsDhcp writes `<ip><TAB><name>` per VM, and dnsmasq answers the
VMs' names from that file. The reference accepted only a line that splits on TAB into exactly
two fields `ip` and `name`, so a hosts line that serves the VM all the same counted as missing:
  * spaces, or several TABs, between address and name;
  * more than one name on the line (an FQDN beside the short name, `<name> data-server`);
  * a trailing comment, or the name in another letter case.
Here a VM is present when a line's address equals its IP and the line's names (hosts(5)
syntax: address, whitespace, names, `#` starts a comment) include its name, compared as DNS
does, case-insensitively: the lines dnsmasq itself answers the name from. The pass message is
the reference's.

The reports in issues #7653, #8158, #8569 and #8761 (4.18, mostly shared networks) describe
entries absent from the router's files (a network without DHCP, /etc/dhcphosts.txt never
written, new VMs not added) or stale after a rename, rather than a formatting quirk. A check
cannot repair those; its message now shows what the file holds for the VM.

Fixed against the reference: a missing /etc/hosts is empty (it crashed), records with dns=false
are skipped and not counted, and each missing VM is followed by what the file holds for its IP
or name (issue #8177), which tells a stale name after a rename from an entry never written.
"""

from dataclasses import dataclass

from vrmonitor.checks.context import on_records
from vrmonitor.checks.context import read_lines, same_ip
from vrmonitor.checks.guests import KEY, GuestFile, VirtualMachine, missing_report, virtual_machines
from vrmonitor.errors import ConfigError
from vrmonitor.paths import Paths

KIND = "advanced"
VM_PATH = "/etc/hosts"

SKIP = "No VMs running data available, skipping"
PASSED = "All {count} VMs are present in /etc/hosts"
FAILED = "Missing entries for VMs in /etc/hosts -"
HOSTS = GuestFile(VM_PATH, PASSED, FAILED, lambda vm: f"{vm.ip} {vm.name}", "IP and name", "IP or name")


@dataclass(frozen=True)
class HostsLine:
    number: int
    text: str
    address: str
    names: tuple[str, ...]  # lower case

    @classmethod
    def parse(cls, number: int, text: str) -> "HostsLine | None":
        fields = text.split("#", 1)[0].split()
        if len(fields) < 2:
            return None
        return cls(number, text.strip(), fields[0], tuple(name.lower() for name in fields[1:]))

    def serves(self, vm: VirtualMachine) -> bool:
        return same_ip(self.address, vm.ip) and vm.name.lower() in self.names

    def mentions(self, vm: VirtualMachine) -> bool:
        return same_ip(self.address, vm.ip) or vm.name.lower() in self.names


def parse_hosts(lines: list[str]) -> list[HostsLine]:
    parsed = (HostsLine.parse(number, text) for number, text in enumerate(lines, 1))
    return [line for line in parsed if line is not None]


def check(vms: list[VirtualMachine], lines: list[str] | None) -> tuple[str, bool]:
    """The message and verdict for `vms` against /etc/hosts's lines (None: no file)."""
    return missing_report(vms, parse_hosts(lines or []), lines is None, HOSTS)


def judge(paths: Paths, records: list[dict[str, str]]) -> tuple[str, bool]:
    vms, problems = virtual_machines(records, "dns", ("vmName", "ip"))
    if problems:
        raise ConfigError(KEY, problems)
    return check(vms, read_lines(paths.hosts, VM_PATH))


def main(argv: list[str], root: str) -> int:
    return on_records(argv, root, KIND, KEY, SKIP, judge)
