"""The guest VMs a router serves, from the virtualMachines records (contract 3.2).

Shared by the dhcp and dns checks.
"""

from dataclasses import dataclass
from typing import Callable

from vrmonitor.cloudstack.health_data import CONTRACT_PATH as DATA_PATH

KEY = "virtualMachines"
RELATED_SHOWN = 3  # lines of a file quoted for one missing VM


@dataclass(frozen=True)
class VirtualMachine:
    name: str
    ip: str
    mac: str = ""


def virtual_machines(records: list[dict[str, str]], flag: str,
                     required: tuple[str, ...]) -> tuple[list[VirtualMachine], list[str]]:
    """The VMs to check, and the problems of malformed records (naming the data file).

    Records whose `flag` field (dhcp or dns) is "false" are left out: the router does not serve
    that network (issue #5536). `required` fields are among vmName, ip, macAddress.
    """
    vms, problems = [], []
    for number, record in enumerate(records, 1):
        if record.get(flag, "").lower() == "false":
            continue
        lacking = [name for name in required if not record.get(name)]
        if lacking:
            shown = ",".join(f"{key}={value}" for key, value in record.items())
            problems.append(f"{DATA_PATH}: {KEY} record {number} ({shown}) has no "
                            f"{' and no '.join(lacking)}")
            continue
        vms.append(VirtualMachine(record["vmName"], record["ip"], record.get("macAddress", "")))
    return vms, problems


def related_lines(vm: VirtualMachine, entries, vm_path: str, file_missing: bool, fields: str) -> str:
    """What a file holds about a VM it is missing: the #8177 detail of the dhcp and dns checks.

    entries: parsed lines with `number`, `text` and `mentions(vm)`; fields: what a line could
    share with the VM ("MAC, IP or name")."""
    if file_missing:
        return f"no {vm_path} (the file does not exist)"
    related = [entry for entry in entries if entry.mentions(vm)]
    if not related:
        return f"no line with this {fields}"
    shown = "; ".join(f"line {entry.number}: {entry.text}" for entry in related[:RELATED_SHOWN])
    more = len(related) - RELATED_SHOWN
    return shown + (f"; and {more} more" if more > 0 else "")


@dataclass(frozen=True)
class GuestFile:
    """A file that must serve every VM, as its check reports it."""
    vm_path: str
    passed: str  # the message when none is missing; {count}: how many VMs
    failed: str  # the first line when some are missing
    show: Callable[[VirtualMachine], str]  # a VM as the failure lists it
    fields: str  # what a line must carry ("MAC, IP and name")
    any_field: str  # what a related line may share ("MAC, IP or name")


def missing_report(vms: list[VirtualMachine], entries, file_missing: bool,
                   guest_file: GuestFile) -> tuple[str, bool]:
    """The message and verdict of a guest file's check; entries: its parsed lines, each with
    `serves(vm)` besides what related_lines reads."""
    missing = [vm for vm in vms if not any(entry.serves(vm) for entry in entries)]
    if not missing:
        return guest_file.passed.format(count=len(vms)), True
    listed = ", ".join(guest_file.show(vm) for vm in missing)
    details = [f"{guest_file.show(vm)}: expected a line with this {guest_file.fields}; found "
               f"{related_lines(vm, entries, guest_file.vm_path, file_missing, guest_file.any_field)}"
               for vm in missing]
    return "\n".join([guest_file.failed, listed, *details]), False
