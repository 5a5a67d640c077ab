"""The built-in system checks (contract 3.5, 3.7; scenarios A12, A14): cpu_usage, memory_usage,
disk_space, router_version, gateways (with a fake ping; real ICMP is in the integration tests),
filesystem_writable, and the redundant-router state they consult.

Exact bytes come from each module's main() with the measurement replaced where the machine's
own value would make the bytes unpredictable; every check also runs once through the script
`vrmonitor compat install` wrote under a temporary root.
"""

import json
import os
import re
import subprocess
import sys
from collections import namedtuple
from pathlib import Path

import psutil
import pytest

from tests.ms_parsers import Answer, agent_call, filesystem_writable as ms_writable
from vrmonitor.checks import (cpu_usage, disk_space, filesystem_writable, gateways, memory_usage,
                              redundancy, router_version)
from vrmonitor.cli import main as cli_main
from vrmonitor.paths import Paths

BASIC_CHECKS = ("cpu_usage_check.py", "memory_usage_check.py", "disk_space_check.py",
                "router_version_check.py", "gateways_check.py")
THRESHOLDS = "minDiskNeeded=100.0,maxCpuUsage=100.0,maxMemoryUsage=100.0;"


def write_data(root: Path, **config: str) -> None:
    """health_checks_data.json as CsMonitor writes it, with these health_checks_config values."""
    target = root / "root/health_checks_data.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps({
        "health_checks_basic_run_interval": 3, "health_checks_advanced_run_interval": 10,
        "health_checks_enabled": True, "excluded_health_checks": [],
        "health_checks_config": config}, ensure_ascii=False, indent=4))


def run_main(capsys, module, argv, root, **seams):
    status = module.main(argv, str(root), **seams)
    out = capsys.readouterr()
    return status, out.out


@pytest.fixture
def vm(tmp_path):
    """A temporary root with the checks installed by `vrmonitor compat install`."""
    root = tmp_path / "vm"
    root.mkdir()
    assert cli_main(["--root", str(root), "compat", "install"]) == 0
    return root


def script(root: Path, name: str, *args: str) -> subprocess.CompletedProcess:
    """Run an installed check as the runner does: cwd /root, no environment to speak of."""
    folder = "opt/cloud/bin" if name == "filesystem_writable_check.py" else "root/health_checks"
    (root / "root").mkdir(exist_ok=True)
    return subprocess.run([str(root / folder / name), *args], capture_output=True, text=True,
                          cwd=root / "root", env={"PATH": "/usr/bin:/bin"}, timeout=60)


# -- every check through its installed script ------------------------------------------------

@pytest.mark.parametrize("name", BASIC_CHECKS)
@pytest.mark.parametrize("args", [("advanced",), (), ("Basic",)])
def test_installed_basic_checks_are_silent_for_another_kind(vm, name, args):
    write_data(vm, systemThresholds=THRESHOLDS, gateways="gatewaysIps=198.18.0.1 ",
               routerVersion="templateVersion=t,scriptsVersion=s")
    done = script(vm, name, *args)
    assert (done.returncode, done.stdout, done.stderr) == (0, "", "")


@pytest.mark.parametrize("name, message", [
    ("cpu_usage_check.py", "Missing maxCpuUsage in health_checks_data systemThresholds, skipping"),
    ("memory_usage_check.py",
     "Missing maxMemoryUsage in health_checks_data systemThresholds, skipping"),
    ("disk_space_check.py",
     "Missing minDiskNeeded in health_checks_data systemThresholds, skipping"),
    ("router_version_check.py", "Missing routerVersion in health_checks_data, skipping"),
    ("gateways_check.py", "No gateways data available, skipping"),
])
def test_a14_installed_checks_skip_without_their_data(vm, name, message):
    write_data(vm)
    done = script(vm, name, "basic")
    assert (done.returncode, done.stdout, done.stderr) == (0, message + "\n", "")


@pytest.mark.parametrize("name", BASIC_CHECKS)
def test_installed_checks_skip_when_health_checks_data_is_missing(vm, name):
    done = script(vm, name, "basic")
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.endswith("skipping\n")


@pytest.mark.parametrize("name", BASIC_CHECKS)
def test_installed_checks_fail_naming_an_invalid_data_file(vm, name):
    (vm / "root").mkdir(exist_ok=True)
    (vm / "root/health_checks_data.json").write_text('{"health_checks_config": {"systemTh')
    done = script(vm, name, "basic")
    assert (done.returncode, done.stderr) == (1, "")
    assert done.stdout.startswith("/root/health_checks_data.json: invalid JSON at line 1 column ")
    assert done.stdout.count("\n") == 1


def test_a14_installed_cpu_check_within_limits(vm):
    write_data(vm, systemThresholds=THRESHOLDS)
    done = script(vm, "cpu_usage_check.py", "basic")
    assert (done.returncode, done.stderr) == (0, "")
    found = re.fullmatch(r"CPU Usage within limits with current at (\d+\.\d+)%\n", done.stdout)
    assert found, done.stdout
    value = found.group(1)
    assert value == str(float(value)) and 0 <= float(value) <= 100
    assert round(float(value), 2) == float(value)


def test_a14_installed_memory_check_within_limits(vm):
    write_data(vm, systemThresholds=THRESHOLDS)
    done = script(vm, "memory_usage_check.py", "basic")
    assert (done.returncode, done.stderr) == (0, "")
    found = re.fullmatch(r"Memory Usage within limits with current at ([0-9.e+-]+)%\n", done.stdout)
    assert found, done.stdout
    assert found.group(1) == str(float("%.6g" % float(found.group(1))))


def test_a14_installed_disk_check_insufficient_with_a_huge_minimum(vm):
    write_data(vm, systemThresholds="minDiskNeeded=100000000,maxCpuUsage=100.0")
    status = os.statvfs(vm)
    done = script(vm, "disk_space_check.py", "basic")
    assert (done.returncode, done.stderr) == (1, "")
    found = re.fullmatch(r"Insufficient free space is (\d+\.\d+) MB, "
                         r"expected at least 100000000\.0 MB\n", done.stdout)
    assert found, done.stdout
    # The file system is shared with the rest of the machine: compare loosely (64 MiB).
    assert abs(float(found.group(1)) - status.f_bavail * status.f_frsize / 1024 / 1024) < 64


def test_a14_installed_disk_check_sufficient(vm):
    write_data(vm, systemThresholds="minDiskNeeded=1.0")
    done = script(vm, "disk_space_check.py", "basic")
    assert (done.returncode, done.stderr) == (0, "")
    assert re.fullmatch(r"Sufficient free space is \d+\.\d+ MB\n", done.stdout), done.stdout


def test_installed_router_version_check_match(vm):
    write_data(vm, routerVersion="templateVersion=Cloudstack Release 4.19.1.0 Mon Jul 1 2024,"
                                 "scriptsVersion=9f0b3c")
    (vm / "etc").mkdir()
    (vm / "etc/cloudstack-release").write_text("Cloudstack Release 4.19.1.0 Mon Jul 1 2024\n")
    (vm / "var/cache/cloud").mkdir(parents=True)
    (vm / "var/cache/cloud/cloud-scripts-signature").write_text("9f0b3c\n")
    done = script(vm, "router_version_check.py", "basic")
    assert (done.returncode, done.stdout, done.stderr) == (
        0, "Template and scripts version match successful\n", "")


def test_installed_gateways_check_skips_on_a_backup_router(vm):
    write_data(vm, gateways="gatewaysIps=198.18.0.1 198.18.0.2 ")
    cmdline(vm, {"redundant_router": "true", "redundant_state": "BACKUP"})
    done = script(vm, "gateways_check.py", "basic")
    assert (done.returncode, done.stdout, done.stderr) == (0, gateways.BACKUP_SKIP + "\n", "")


def test_a12_installed_filesystem_check_writable(vm):
    """The MS runs this one itself (contract 3.7), with stderr merged into what it reads."""
    (vm / "var/cache/cloud").mkdir(parents=True)
    for args in ((), ("basic",)):
        done = script(vm, "filesystem_writable_check.py", *args)
        assert (done.returncode, done.stdout, done.stderr) == (0, "file system is writable\n", "")
        assert ms_writable(Answer.of(done.stdout, done.returncode)) == (
            True, "Successfully written to file system")
    assert ms_writable(agent_call([str(vm / "opt/cloud/bin/filesystem_writable_check.py")],
                                          cwd=vm / "root", timeout=60)) == (
        True, "Successfully written to file system")


def test_installed_filesystem_check_that_cannot_look_is_a_failure_with_its_reason(vm):
    (vm / "root").mkdir(exist_ok=True)
    (vm / "var").mkdir()
    (vm / "var/cache").symlink_to("cache")  # a loop
    done = script(vm, "filesystem_writable_check.py")
    message = "Cannot check the file system of /var/cache/cloud: Too many levels of symbolic links\n"
    assert (done.returncode, done.stdout, done.stderr) == (1, message, "")
    assert ms_writable(agent_call([str(vm / "opt/cloud/bin/filesystem_writable_check.py")],
                                          cwd=vm / "root", timeout=60)) == (
        False, f"Failed to fetch results with details: {message}")


def test_health_scripts_have_the_entry_point_shape():
    folder = Path(__file__).resolve().parents[2] / "health_scripts"
    for name in BASIC_CHECKS + ("filesystem_writable_check.py",):
        text = (folder / name).read_text()
        assert text.startswith("#!/usr/bin/python3\n")
        assert 'os.environ.get("VRMONITOR_ROOT", "/")' in text
        assert f'"{name}"' in text
        assert os.access(folder / name, os.X_OK)


def test_a_health_script_from_the_source_tree_uses_vrmonitor_root(tmp_path):
    project = Path(__file__).resolve().parents[2]
    write_data(tmp_path, systemThresholds="maxCpuUsage=abc")
    done = subprocess.run([sys.executable, str(project / "health_scripts/cpu_usage_check.py"),
                           "basic"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin", "VRMONITOR_ROOT": str(tmp_path),
                               "PYTHONPATH": str(project)})
    assert (done.returncode, done.stdout, done.stderr) == (
        1, "Invalid maxCpuUsage in health_checks_data systemThresholds: expected a number, "
           "found 'abc'\n", "")


# -- cpu_usage --------------------------------------------------------------------------------

def test_a14_cpu_within_limits_exact(tmp_path, capsys):
    write_data(tmp_path, systemThresholds=THRESHOLDS)
    assert run_main(capsys, cpu_usage, ["basic"], tmp_path, measure=lambda: 1.7) == (
        0, "CPU Usage within limits with current at 1.7%\n")


def test_cpu_equal_to_the_threshold_passes_above_fails(tmp_path, capsys):
    write_data(tmp_path, systemThresholds="maxCpuUsage=90")
    assert run_main(capsys, cpu_usage, ["basic"], tmp_path, measure=lambda: 90.0) == (
        0, "CPU Usage within limits with current at 90.0%\n")
    assert run_main(capsys, cpu_usage, ["basic"], tmp_path, measure=lambda: 90.01) == (
        1, "CPU Usage 90.01% has crossed threshold of 90.0%\n")


@pytest.mark.parametrize("value", ["abc", "nan", "", "90%"])
def test_cpu_threshold_that_is_not_a_number_fails_naming_key_and_value(tmp_path, capsys, value):
    write_data(tmp_path, systemThresholds=f"maxCpuUsage={value}")
    assert run_main(capsys, cpu_usage, ["basic"], tmp_path, measure=lambda: 1.0) == (
        1, "Invalid maxCpuUsage in health_checks_data systemThresholds: expected a number, "
           f"found {value!r}\n")


def test_cpu_skips_when_the_record_lacks_the_key(tmp_path, capsys):
    write_data(tmp_path, systemThresholds="minDiskNeeded=100.0")
    assert run_main(capsys, cpu_usage, ["basic"], tmp_path) == (
        0, "Missing maxCpuUsage in health_checks_data systemThresholds, skipping\n")


def test_cpu_sampling_failure_names_the_sampler(tmp_path, capsys):
    write_data(tmp_path, systemThresholds=THRESHOLDS)

    def broken():
        raise OSError(5, "Input/output error")

    assert run_main(capsys, cpu_usage, ["basic"], tmp_path, measure=broken) == (
        1, "Failed to retrieve cpu usage using psutil.cpu_times_percent(interval=0.5): "
           "[Errno 5] Input/output error\n")


def test_cpu_sample_is_short_and_is_100_minus_idle_to_two_decimals(monkeypatch):
    asked = []
    Times = namedtuple("Times", "user idle")

    def fake(interval=None, percpu=False):
        asked.append(interval)
        return Times(user=12.3, idle=87.654)

    monkeypatch.setattr(psutil, "cpu_times_percent", fake)
    assert cpu_usage.cpu_usage() == 12.35
    assert asked == [cpu_usage.SAMPLE_INTERVAL]
    # top -b -n2 sampled 3 s; the check's whole budget is well under 2 s.
    assert 0.25 <= cpu_usage.SAMPLE_INTERVAL <= 0.5


def test_cpu_sample_is_real():
    usage = cpu_usage.cpu_usage(interval=0.1)
    assert 0.0 <= usage <= 100.0 and usage == round(usage, 2)


# -- memory_usage -----------------------------------------------------------------------------

Memory = namedtuple("Memory", "total available percent used free")


@pytest.mark.parametrize("total, available, printed", [
    # (total, available) KiB -> what `free | awk '{print $3 * 100 / $2}'` printed, as a float
    (24684084, 24248872, "1.76313"),  # free: total 24684084, used 435212; awk 1.76313
    (200, 100, "50.0"),  # awk 50; the reference printed float("50")
    (3, 2, "33.3333"),
    (300000, 299999, "0.000333333"),
    (3, 0, "100.0"),
])
def test_memory_is_frees_used_over_total_in_awk_format(monkeypatch, total, available, printed):
    monkeypatch.setattr(psutil, "virtual_memory",
                        lambda: Memory(total * 1024, available * 1024, 0.0, 0, 0))
    assert str(memory_usage.memory_usage()) == printed


def meminfo() -> dict[str, int]:
    fields = {}
    for line in Path("/proc/meminfo").read_text().splitlines():
        name, value = line.split(":", 1)
        fields[name] = int(value.split()[0])
    return fields


def test_memory_matches_proc_meminfo_and_free():
    info = meminfo()
    expected = (info["MemTotal"] - info["MemAvailable"]) * 100 / info["MemTotal"]
    measured = memory_usage.memory_usage()
    assert abs(measured - expected) < 0.5
    # Debian 12's free (procps 4.0.2): used = total - available.
    lines = subprocess.run(["free"], capture_output=True, text=True, check=True).stdout.splitlines()
    columns = lines[1].split()
    assert columns[0] == "Mem:"
    assert abs(measured - int(columns[2]) * 100 / int(columns[1])) < 0.5


def test_memory_messages_exact(tmp_path, capsys):
    write_data(tmp_path, systemThresholds="maxMemoryUsage=80.0")
    assert run_main(capsys, memory_usage, ["basic"], tmp_path, measure=lambda: 1.76313) == (
        0, "Memory Usage within limits with current at 1.76313%\n")
    assert run_main(capsys, memory_usage, ["basic"], tmp_path, measure=lambda: 80.0001) == (
        1, "Memory Usage 80.0001% has crossed threshold of 80.0%\n")


def test_memory_failure_names_what_was_used(tmp_path, capsys):
    write_data(tmp_path, systemThresholds=THRESHOLDS)

    def broken():
        raise psutil.AccessDenied()

    assert run_main(capsys, memory_usage, ["basic"], tmp_path, measure=broken) == (
        1, "Failed to retrieve memory usage using psutil.virtual_memory() "
           "(total - available, as free's used): AccessDenied\n")


# -- disk_space -------------------------------------------------------------------------------

def test_disk_messages_exact(tmp_path, capsys):
    write_data(tmp_path, systemThresholds="minDiskNeeded=100.0")
    folders = []

    def free(folder):
        folders.append(folder)
        return 1878248.0  # KiB

    assert run_main(capsys, disk_space, ["basic"], tmp_path, measure=free) == (
        0, "Sufficient free space is 1834.2265625 MB\n")
    assert folders == [tmp_path]  # the root folder: / on a router
    write_data(tmp_path, systemThresholds="minDiskNeeded=1834.2265626")
    assert run_main(capsys, disk_space, ["basic"], tmp_path, measure=free) == (
        1, "Insufficient free space is 1834.2265625 MB, expected at least 1834.2265626 MB\n")
    write_data(tmp_path, systemThresholds="minDiskNeeded=1834.2265625")
    assert run_main(capsys, disk_space, ["basic"], tmp_path, measure=free)[0] == 0


def test_disk_free_is_bavail_times_frsize_in_kib(tmp_path):
    status = os.statvfs(tmp_path)
    assert abs(disk_space.free_kib(tmp_path) - status.f_bavail * status.f_frsize / 1024) < 65536


# -- router_version ---------------------------------------------------------------------------

def version_root(tmp_path, release: str | None, signature: str | None,
                 data: str = "templateVersion=Cloudstack Release 4.19.1.0,scriptsVersion=abc123"):
    write_data(tmp_path, routerVersion=data)
    for relative, content in (("etc/cloudstack-release", release),
                              ("var/cache/cloud/cloud-scripts-signature", signature)):
        if content is not None:
            (tmp_path / relative).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / relative).write_text(content)
    return tmp_path


@pytest.mark.parametrize("release, signature, status, message", [
    ("Cloudstack Release 4.19.1.0\nsecond line\n", "  abc123  \n", 0,
     "Template and scripts version match successful\n"),
    ("Cloudstack Release 4.18.0.0\n", "abc123\n", 1,
     "Template Version mismatch. Expected: Cloudstack Release 4.19.1.0, "
     "found: Cloudstack Release 4.18.0.0\n"),
    ("Cloudstack Release 4.19.1.0\n", "def456\n", 1,
     "Scripts Version mismatch. Expected: abc123, found: def456\n"),
    ("Cloudstack Release 4.18.0.0\n", "def456\n", 1,
     "Template Version mismatch. Expected: Cloudstack Release 4.19.1.0, "
     "found: Cloudstack Release 4.18.0.0\n"
     "Scripts Version mismatch. Expected: abc123, found: def456\n"),
    (None, "abc123\n", 0,
     "Release version not yet setup at /etc/cloudstack-release, skipping.\n"
     "Template and scripts version match successful\n"),
    ("", "abc123\n", 0,
     "Release version not yet setup at /etc/cloudstack-release, skipping.\n"
     "Template and scripts version match successful\n"),
    (None, "def456\n", 1,
     "Release version not yet setup at /etc/cloudstack-release, skipping.\n"
     "Scripts Version mismatch. Expected: abc123, found: def456\n"),
    ("Cloudstack Release 4.19.1.0\n", None, 1,
     "Scripts Version mismatch. Expected: abc123, found: nothing "
     "(/var/cache/cloud/cloud-scripts-signature: No such file or directory)\n"),
    ("Cloudstack Release 4.19.1.0\n", "", 1,
     "Scripts Version mismatch. Expected: abc123, found: nothing "
     "(/var/cache/cloud/cloud-scripts-signature is empty)\n"),
])
def test_router_version(tmp_path, capsys, release, signature, status, message):
    root = version_root(tmp_path, release, signature)
    assert run_main(capsys, router_version, ["basic"], root) == (status, message)


def test_router_version_release_missing_and_nothing_else_to_compare(tmp_path, capsys):
    root = version_root(tmp_path, None, None, data="templateVersion=Cloudstack Release 4.19.1.0")
    assert run_main(capsys, router_version, ["basic"], root) == (
        0, "Release version not yet setup at /etc/cloudstack-release, skipping.\n")


def test_router_version_unreadable_release_file_is_a_failure(tmp_path, capsys):
    root = version_root(tmp_path, None, "abc123\n")
    (root / "etc/cloudstack-release").mkdir(parents=True)
    assert run_main(capsys, router_version, ["basic"], root) == (
        1, "Template Version mismatch. Expected: Cloudstack Release 4.19.1.0, found: nothing "
           "(/etc/cloudstack-release: Is a directory)\n")


@pytest.mark.parametrize("data", ["other=1", "", ";"])
def test_router_version_without_either_key_skips(tmp_path, capsys, data):
    root = version_root(tmp_path, "x\n", "y\n", data=data)
    assert run_main(capsys, router_version, ["basic"], root) == (
        0, "Missing routerVersion in health_checks_data, skipping\n")


def test_router_version_only_one_key_compares_only_that(tmp_path, capsys):
    root = version_root(tmp_path, "other release\n", "abc123\n", data="scriptsVersion=abc123")
    assert run_main(capsys, router_version, ["basic"], root) == (
        0, "Template and scripts version match successful\n")


# -- gateways (fake ping) ---------------------------------------------------------------------

def fake_ping(answers: dict[str, str | None]):
    asked = []

    def ping(addresses):
        asked.append(list(addresses))
        return {address: answers.get(address) for address in addresses}

    ping.asked = asked
    return ping


def test_gateways_count_is_the_number_of_gateways(tmp_path, capsys):
    write_data(tmp_path, gateways="gatewaysIps=198.18.0.1 198.18.1.1 198.18.0.1 ")
    ping = fake_ping({})
    assert run_main(capsys, gateways, ["basic"], tmp_path, ping=ping) == (
        0, "All 2 gateways are reachable via ping\n")
    assert ping.asked == [["198.18.0.1", "198.18.1.1"]]


def test_gateways_unreachable_message(tmp_path, capsys):
    write_data(tmp_path, gateways="gatewaysIps=198.18.0.1 198.18.1.1 not-an-ip ")
    ping = fake_ping({"198.18.1.1": "no echo reply to 3 requests of 1 s each"})
    assert run_main(capsys, gateways, ["basic"], tmp_path, ping=ping) == (
        1, "Unreachable gateways found-\n['198.18.1.1', 'not-an-ip']\n"
           "expected an echo reply from each gateway; 198.18.1.1: no echo reply to 3 requests "
           "of 1 s each; not-an-ip: not an IPv4 address\n")
    assert ping.asked == [["198.18.0.1", "198.18.1.1"]]


@pytest.mark.parametrize("config", [{}, {"gateways": ""}, {"gateways": "gatewaysIps= "},
                                    {"gateways": "other=1"}])
def test_gateways_without_data_skip(tmp_path, capsys, config):
    write_data(tmp_path, **config)
    ping = fake_ping({})
    assert run_main(capsys, gateways, ["basic"], tmp_path, ping=ping) == (
        0, "No gateways data available, skipping\n")
    assert ping.asked == []


def test_gateways_without_a_raw_socket_fail_clearly(tmp_path, capsys):
    write_data(tmp_path, gateways="gatewaysIps=198.18.0.1 ")

    def ping(addresses):
        raise PermissionError(1, "Operation not permitted")

    assert run_main(capsys, gateways, ["basic"], tmp_path, ping=ping) == (
        1, "Failed to ping the gateways ['198.18.0.1']: cannot send ICMP echo requests: "
           "Operation not permitted\n")


def test_gateways_ping_is_bounded(monkeypatch):
    from vrmonitor.diagnostics import icmp

    asked = []

    def echo(targets, attempts, timeout):
        asked.append((list(targets), attempts, timeout))
        return {target: icmp.EchoOutcome(target, sent=attempts) for target in targets}

    monkeypatch.setattr(icmp, "echo", echo)
    assert gateways.ping_all(["198.18.0.1", "198.18.1.1"]) == {
        "198.18.0.1": "no echo reply to 3 requests of 1 s each",
        "198.18.1.1": "no echo reply to 3 requests of 1 s each"}
    # All gateways in one call (in parallel), at most 3 attempts of 1 s.
    assert asked == [(["198.18.0.1", "198.18.1.1"], 3, 1.0)]


def cmdline(root: Path, config: dict | None, raw: str | None = None) -> None:
    target = root / "etc/cloudstack/cmdline.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(raw if raw is not None else json.dumps({"id": "cmdline", "config": config}))


@pytest.mark.parametrize("config, raw, expected", [
    ({"redundant_router": "true", "redundant_state": "BACKUP", "redundant_primary": False},
     None, "BACKUP"),
    ({"redundant_router": "true", "redundant_state": "PRIMARY", "redundant_primary": True},
     None, "MASTER"),
    ({"redundant_router": "true", "redundant_state": "MASTER", "redundant_master": True},
     None, "MASTER"),
    ({"redundant_router": "true", "redundant_state": "FAULT"}, None, "FAULT"),
    ({"redundant_router": "true"}, None, None),  # keepalived has not decided yet
    ({"redundant_router": "false", "redundant_state": "BACKUP"}, None, None),
    ({"type": "router"}, None, None),
    ({"redundant_router": "true", "redundant_state": "UNKNOWN"}, None, None),
    (None, '{"config": ', None),
    (None, '["config"]', None),
    (None, None, None),  # no file
])
def test_router_state(tmp_path, config, raw, expected):
    if config is not None or raw is not None:
        cmdline(tmp_path, config, raw)
    assert redundancy.router_state(Paths(tmp_path)) == expected


@pytest.mark.parametrize("state, skipped", [("BACKUP", True), ("PRIMARY", False),
                                            ("FAULT", False), (None, False)])
def test_gateways_skip_only_on_a_backup_router(tmp_path, capsys, state, skipped):
    write_data(tmp_path, gateways="gatewaysIps=198.18.0.1 ")
    config = {"redundant_router": "true"}
    if state:
        config["redundant_state"] = state
    cmdline(tmp_path, config)
    ping = fake_ping({})
    status, out = run_main(capsys, gateways, ["basic"], tmp_path, ping=ping)
    assert status == 0
    if skipped:
        assert out == ("Router is BACKUP in a redundant pair, its gateways are reachable from "
                       "the PRIMARY only, skipping\n")
        assert ping.asked == []
    else:
        assert out == "All 1 gateways are reachable via ping\n"


# -- filesystem_writable ----------------------------------------------------------------------

def test_a12_filesystem_writable_exact(tmp_path, capsys):
    (tmp_path / "root").mkdir()
    (tmp_path / "var/cache/cloud").mkdir(parents=True)
    assert run_main(capsys, filesystem_writable, [], tmp_path) == (0, "file system is writable\n")


def test_filesystem_check_judges_a_missing_folder_by_its_parent(tmp_path, capsys):
    assert run_main(capsys, filesystem_writable, [], tmp_path) == (0, "file system is writable\n")


def test_filesystem_check_reports_the_read_only_folder(monkeypatch, tmp_path, capsys):
    (tmp_path / "root").mkdir()
    (tmp_path / "var/cache/cloud").mkdir(parents=True)
    real = os.statvfs
    read_only = {str(tmp_path / "var/cache/cloud")}
    Status = namedtuple("Status", "f_flag")

    def statvfs(path):
        flag = real(path).f_flag
        return Status(flag | os.ST_RDONLY if str(path) in read_only else flag)

    monkeypatch.setattr(os, "statvfs", statvfs)
    assert run_main(capsys, filesystem_writable, [], tmp_path) == (
        1, "Read-only file system : config info (/var/cache/cloud) file system is mounted as "
           "read-only\n")
    read_only.add(str(tmp_path / "root"))
    status, out = run_main(capsys, filesystem_writable, [], tmp_path)
    assert (status, out) == (
        1, "Read-only file system : monitor results (/root) file system is mounted as read-only\n")
    # What the MS records: exactly `Read-only file system` (contract 3.7, 3.8).
    assert ms_writable(Answer.of(out, status)) == (False, "Read-only file system")


def test_filesystem_check_fails_naming_a_folder_it_cannot_examine(tmp_path, capsys):
    (tmp_path / "root").write_text("not a folder\n")
    (tmp_path / "var").mkdir()
    (tmp_path / "var/cache").symlink_to("cache")  # a loop
    status, out = run_main(capsys, filesystem_writable, [], tmp_path)
    assert (status, out) == (
        1, "Cannot check the file system of /var/cache/cloud: Too many levels of symbolic links\n")
    assert ms_writable(Answer.of(out, status)) == (
        False, "Failed to fetch results with details: Cannot check the file system of "
               "/var/cache/cloud: Too many levels of symbolic links\n")
