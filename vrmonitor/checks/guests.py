"""The guest VMs a router serves, from the virtualMachines records (contract 3.2).

Shared by the dhcp and dns checks.
"""

from dataclasses import dataclass

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
