"""The system VM roles each role-bound built-in check runs on (contract 10.7).

Such a check prints nothing and exits 0 on any other role: it has no entry there. The health
engine leaves it out of the run on the other roles instead of starting an interpreter that
would only say so: on a router that is six processes fewer in every basic run.
"""

from vrmonitor.cloudstack.cmdline import CONSOLEPROXY, SECSTORAGE, SYSTEM_VM_ROLES

CHECK_ROLES: dict[str, tuple[str, ...]] = {
    "secstorage_mount_check.py": (SECSTORAGE,),
    "secstorage_webserver_check.py": (SECSTORAGE,),
    "systemvm_dns_check.py": (SECSTORAGE,),
    "consoleproxy_listeners_check.py": (CONSOLEPROXY,),
    "systemvm_agent_check.py": SYSTEM_VM_ROLES,
    "systemvm_certificate_check.py": SYSTEM_VM_ROLES,
}


def not_for(role: str | None) -> frozenset[str]:
    """The names of the role-bound checks that do not run on `role` (None: unknown)."""
    return frozenset(name for name, roles in CHECK_ROLES.items() if role not in roles)
