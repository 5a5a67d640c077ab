"""The system VM checks are left out of runs on other roles, without being started.

Stand-ins named as the built-in role-bound checks record that they ran; the engine's run on a
router (type=router in /var/cache/cloud/cmdline), on an unknown role and on the SSVM shows
which were started. The answer is the same either way on the other roles (such a check prints
nothing there, so it has no entry): what changes is that no interpreter starts for it.
"""

import json
import os

import pytest

from tests.vmroot import sleeping_router
from vrmonitor.checks.roles import CHECK_ROLES
from vrmonitor.config.settings import Settings
from vrmonitor.health.run import HealthEngine
from vrmonitor.paths import Paths

pytestmark = [pytest.mark.root]

DATA = {"health_checks_enabled": True, "health_checks_basic_run_interval": 3,
        "health_checks_advanced_run_interval": 10, "excluded_health_checks": [],
        "health_checks_config": {}}


def started_checks(tmp_path, cmdline: str | None) -> tuple[set[str], dict]:
    """(names of the stand-ins that ran, the basic results) for one basic run."""
    with sleeping_router(tmp_path, extra_folders=("var", "var/cache", "var/cache/cloud")) as vm:
        (vm / "root/health_checks_data.json").write_text(json.dumps(DATA))
        if cmdline is not None:
            (vm / "var/cache/cloud/cmdline").write_text(cmdline)
        ran = tmp_path / "ran"
        ran.mkdir()
        for name in [*CHECK_ROLES, "ok_check.sh"]:
            check = vm / "root/health_checks" / name
            check.write_text(f'#!/bin/sh\ntouch "{ran}/{name}"\necho fine\n')
            os.chmod(check, 0o755)
        HealthEngine(Paths(vm), Settings().health, lambda start, previous: ({}, [])).run("basic")
        results = json.loads((vm / "root/basic_monitor_results.json").read_text())
        return {path.name for path in ran.iterdir()}, results


def test_on_a_router_no_system_vm_check_is_started(tmp_path):
    ran, results = started_checks(tmp_path, "template=domP type=router name=r-4-VM\n")
    assert ran == {"ok_check.sh"}
    assert set(results) == {"ok_check.sh", "lastRun"}


def test_with_the_role_unknown_no_system_vm_check_is_started(tmp_path):
    ran, _ = started_checks(tmp_path, None)
    assert ran == {"ok_check.sh"}


def test_on_the_ssvm_its_checks_run_and_the_console_proxy_one_does_not(tmp_path):
    ran, results = started_checks(tmp_path, "template=domP type=secstorage name=s-1-VM\n")
    expected = {name for name, roles in CHECK_ROLES.items() if "secstorage" in roles}
    assert ran == expected | {"ok_check.sh"}
    assert "consoleproxy_listeners_check.py" not in ran
    assert set(results) == expected | {"ok_check.sh", "lastRun"}
