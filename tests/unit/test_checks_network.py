"""The advanced network checks (contract 3.5): dhcp, dns, haproxy, iptables, on files under a
temporary root. The same files run through the installed scripts, against real dnsmasq,
haproxy and iptables, in tests/integration/test_checks_network.py.
"""

import json
import os
from pathlib import Path

import pytest

from vrmonitor.checks import dhcp, dns, haproxy, iptables
from vrmonitor.cloudstack.records import parse_records

DATA = Path(__file__).resolve().parents[1] / "data"
MODULES = (dhcp, dns, haproxy, iptables)

# Scenario A15's VM, and the sample files' VMs (tests/data/dhcphosts.txt and hosts).
A15_VM = "vmName=vm-1,macAddress=02:00:4c:5f:00:01,ip=10.1.1.10"
SAMPLE_VMS = ("vmName=vm-1,macAddress=02:00:4c:5f:00:01,ip=198.19.1.10,dhcp=true,dns=true;"
              "vmName=vm-2,macAddress=02:00:4c:5f:00:02,ip=198.19.1.11,dhcp=true,dns=true;"
              "vmName=vm-1,macAddress=02:00:7a:3b:00:05,ip=198.19.2.10,dhcp=true,dns=true;")


@pytest.fixture
def vm(tmp_path):
    """A router root with /root and /etc; returns it."""
    for folder in ("root", "etc/haproxy"):
        (tmp_path / folder).mkdir(parents=True)
    return tmp_path


def data(root: Path, **config: str) -> None:
    (root / "root/health_checks_data.json").write_text(json.dumps(
        {"health_checks_enabled": True, "health_checks_config": config}, indent=4))


def put(root: Path, vm_path: str, text: str) -> None:
    (root / vm_path.lstrip("/")).write_text(text)


def run(module, root: Path, capsys, *argv: str) -> tuple[int, str]:
    """main(argv) of a check module: (exit status, stdout); stderr must stay empty."""
    status = module.main(list(argv) or ["advanced"], str(root))
    out, err = capsys.readouterr()
    assert err == ""
    assert str(root) not in out, "messages name contract paths, not the relocated root"
    return status, out


# ---- every check: only for its kind -------------------------------------------------------

@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
@pytest.mark.parametrize("argv", [[], ["basic"], ["advance"], ["Advanced"]])
def test_silent_for_other_kinds_even_with_broken_inputs(module, argv, vm, capsys):
    put(vm, "/root/health_checks_data.json", "{ truncated")
    assert module.main(argv, str(vm)) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("module, skip", [
    (dhcp, "No VMs running data available, skipping"),
    (dns, "No VMs running data available, skipping"),
    (haproxy, "No data provided to check, skipping"),
    (iptables, "No port forwarding rules provided to check, skipping"),
], ids=["dhcp", "dns", "haproxy", "iptables"])
@pytest.mark.parametrize("state", ["no data file", "no key", "empty value"])
def test_skip_messages(module, skip, state, vm, capsys):
    if state == "no key":
        data(vm, gateways="gatewaysIps=198.18.0.1 ")
    elif state == "empty value":
        data(vm, virtualMachines=" ", haproxyData="", portForwarding=";")
    assert run(module, vm, capsys) == (0, skip + "\n")


@pytest.mark.parametrize("module, key", [(dhcp, "virtualMachines"), (dns, "virtualMachines"),
                                         (haproxy, "haproxyData"), (iptables, "portForwarding")],
                         ids=["dhcp", "dns", "haproxy", "iptables"])
def test_an_invalid_value_of_its_own_key_is_a_failure_naming_it(module, key, vm, capsys):
    put(vm, "/root/health_checks_data.json", '{"health_checks_config": {"%s": 3}}' % key)
    assert run(module, vm, capsys) == (
        1, f"/root/health_checks_data.json: health_checks_config.{key}: 3 is not of type 'string'\n")


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__.rsplit(".", 1)[1])
def test_a_truncated_data_file_is_a_failure_naming_it(module, vm, capsys):
    put(vm, "/root/health_checks_data.json", '{"health_checks_config": {"virtualMach')
    status, out = run(module, vm, capsys)
    assert status == 1
    assert out.startswith("/root/health_checks_data.json: invalid JSON at line 1 column ")


# ---- dhcp -----------------------------------------------------------------------------------

def test_a15_dhcp(vm, capsys):
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/dhcphosts.txt", "02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite\n")
    assert run(dhcp, vm, capsys) == (0, "All 1 VMs are present in dhcphosts.txt\n")
    put(vm, "/etc/dhcphosts.txt", "02:00:4c:5f:00:02,10.1.1.11,vm-2,infinite\n")
    status, out = run(dhcp, vm, capsys)
    assert status == 1
    lines = out.splitlines()
    assert lines[:2] == ["Missing elements in dhcphosts.txt - ", "02:00:4c:5f:00:01 10.1.1.10 vm-1"]
    assert lines[2:] == ["02:00:4c:5f:00:01 10.1.1.10 vm-1: expected a line with this MAC, IP "
                         "and name; found no line with this MAC, IP or name"]


def test_a15_dhcp_false_is_not_counted(vm, capsys):
    data(vm, virtualMachines=A15_VM + ",dhcp=true;vmName=vm-2,macAddress=02:00:4c:5f:00:02,"
                                      "ip=10.1.1.11,dhcp=false;")
    put(vm, "/etc/dhcphosts.txt", "02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite\n")
    assert run(dhcp, vm, capsys) == (0, "All 1 VMs are present in dhcphosts.txt\n")


def test_dhcp_sample_file_both_router_forms(vm, capsys):
    data(vm, virtualMachines=SAMPLE_VMS)
    put(vm, "/etc/dhcphosts.txt", (DATA / "dhcphosts.txt").read_text())
    assert run(dhcp, vm, capsys) == (0, "All 3 VMs are present in dhcphosts.txt\n")


@pytest.mark.parametrize("line", [
    "02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite",
    "02:00:4c:5f:00:01,set:10_1_1_10,10.1.1.10,vm-1,infinite",
    "02:00:4c:5f:00:01,10.1.1.10,vm-1,3600",
    "02:00:4c:5f:00:01,10.1.1.10,vm-1",            # no lease time: dnsmasq's default
    "02:00:4C:5F:00:01,10.1.1.10,VM-1,infinite",   # upper case: the same MAC and DNS name
    " 02:00:4c:5f:00:01 , 10.1.1.10 , vm-1 , 1h ",
])
def test_dhcp_lines_that_serve_the_vm(line, vm, capsys):
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/dhcphosts.txt", f"# comment\n\n{line}\n")
    assert run(dhcp, vm, capsys)[0] == 0


@pytest.mark.parametrize("line", [
    "02:00:4c:5f:00:01,10.1.1.11,vm-1,infinite",
    "02:00:4c:5f:00:02,10.1.1.10,vm-1,infinite",
    "02:00:4c:5f:00:01,10.1.1.10,vm-10,infinite",
    "02:00:4c:5f:00:01,10.1.1.100,vm-1,infinite",
    "02:00:4c:5f:00:01,10.1.1.10,vm-1,ignore",
    "# 02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite",
])
def test_dhcp_lines_that_do_not(line, vm, capsys):
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/dhcphosts.txt", line + "\n")
    assert run(dhcp, vm, capsys)[0] == 1


def test_dhcp_failure_lists_all_missing_and_what_the_file_holds(vm, capsys):
    data(vm, virtualMachines=SAMPLE_VMS + "vmName=vm-3,macAddress=02:00:4c:5f:00:03,ip=198.19.1.12")
    put(vm, "/etc/dhcphosts.txt", "02:00:4c:5f:00:01,198.19.1.10,vm-1-old,infinite\n"
                                  "02:00:4c:5f:00:02,198.19.1.11,vm-2,infinite\n")
    status, out = run(dhcp, vm, capsys)
    assert status == 1
    assert out == (
        "Missing elements in dhcphosts.txt - \n"
        "02:00:4c:5f:00:01 198.19.1.10 vm-1, 02:00:7a:3b:00:05 198.19.2.10 vm-1, "
        "02:00:4c:5f:00:03 198.19.1.12 vm-3\n"
        "02:00:4c:5f:00:01 198.19.1.10 vm-1: expected a line with this MAC, IP and name; "
        "found line 1: 02:00:4c:5f:00:01,198.19.1.10,vm-1-old,infinite\n"
        "02:00:7a:3b:00:05 198.19.2.10 vm-1: expected a line with this MAC, IP and name; "
        "found no line with this MAC, IP or name\n"
        "02:00:4c:5f:00:03 198.19.1.12 vm-3: expected a line with this MAC, IP and name; "
        "found no line with this MAC, IP or name\n")


def test_dhcp_missing_file_is_empty(vm, capsys):
    data(vm, virtualMachines=A15_VM)
    assert run(dhcp, vm, capsys) == (1, (
        "Missing elements in dhcphosts.txt - \n02:00:4c:5f:00:01 10.1.1.10 vm-1\n"
        "02:00:4c:5f:00:01 10.1.1.10 vm-1: expected a line with this MAC, IP and name; "
        "found no /etc/dhcphosts.txt (the file does not exist)\n"))


def test_dhcp_missing_file_with_every_vm_skipped_passes(vm, capsys):
    data(vm, virtualMachines=A15_VM + ",dhcp=false")
    assert run(dhcp, vm, capsys) == (0, "All 0 VMs are present in dhcphosts.txt\n")


def test_dhcp_unreadable_file_names_it(vm, capsys):
    data(vm, virtualMachines=A15_VM)
    (vm / "etc/dhcphosts.txt").mkdir()
    assert run(dhcp, vm, capsys) == (1, "Unable to read /etc/dhcphosts.txt: Is a directory\n")


def test_dhcp_record_without_mac_names_the_data_file(vm, capsys):
    data(vm, virtualMachines=A15_VM + ";vmName=vm-2,ip=10.1.1.11;")
    put(vm, "/etc/dhcphosts.txt", "02:00:4c:5f:00:01,10.1.1.10,vm-1,infinite\n")
    assert run(dhcp, vm, capsys) == (1, "/root/health_checks_data.json: virtualMachines record 2 "
                                        "(vmName=vm-2,ip=10.1.1.11) has no macAddress\n")


# ---- dns ------------------------------------------------------------------------------------

def test_a15_dns(vm, capsys):
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/hosts", "127.0.0.1\tlocalhost\n10.1.1.10\tvm-1\n")
    assert run(dns, vm, capsys) == (0, "All 1 VMs are present in /etc/hosts\n")


def test_dns_sample_files(vm, capsys):
    data(vm, virtualMachines=SAMPLE_VMS)
    for sample in ("hosts", "hosts-equivalent"):
        put(vm, "/etc/hosts", (DATA / sample).read_text())
        assert run(dns, vm, capsys) == (0, "All 3 VMs are present in /etc/hosts\n"), sample


@pytest.mark.parametrize("line", [
    "10.1.1.10\tvm-1",
    "10.1.1.10 vm-1",                       # spaces instead of a TAB
    "10.1.1.10\t\tvm-1",
    "  10.1.1.10\tvm-1\t ",
    "10.1.1.10\tvm-1.cs7.internal vm-1",    # several names
    "10.1.1.10\tvm-1 data-server",
    "10.1.1.10\tvm-1  # a comment",
    "10.1.1.10\tVM-1",                      # DNS names are case-insensitive
])
def test_dns_lines_that_serve_the_vm(line, vm, capsys):
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/hosts", line + "\n")
    assert run(dns, vm, capsys) == (0, "All 1 VMs are present in /etc/hosts\n")


@pytest.mark.parametrize("line", [
    "10.1.1.11\tvm-1",
    "10.1.1.10\tvm-10",
    "10.1.1.10\tvm-1.cs7.internal",
    "# 10.1.1.10\tvm-1",
    "10.1.1.10 #vm-1",
    "10.1.1.10",
])
def test_dns_lines_that_do_not(line, vm, capsys):
    data(vm, virtualMachines=A15_VM)
    put(vm, "/etc/hosts", line + "\n")
    assert run(dns, vm, capsys)[0] == 1


def test_dns_failure_message_shows_a_stale_name(vm, capsys):
    data(vm, virtualMachines=A15_VM + ";vmName=vm-2,macAddress=02:00:4c:5f:00:02,ip=10.1.1.11;"
                                      "vmName=vm-3,ip=10.1.1.12,dns=false")
    put(vm, "/etc/hosts", "127.0.0.1\tlocalhost\n10.1.1.10\tvm-1-before-rename\n")
    assert run(dns, vm, capsys) == (1, (
        "Missing entries for VMs in /etc/hosts -\n"
        "10.1.1.10 vm-1, 10.1.1.11 vm-2\n"
        "10.1.1.10 vm-1: expected a line with this IP and name; "
        "found line 2: 10.1.1.10\tvm-1-before-rename\n"
        "10.1.1.11 vm-2: expected a line with this IP and name; found no line with this IP or name\n"))


def test_dns_missing_file(vm, capsys):
    data(vm, virtualMachines=A15_VM)
    assert run(dns, vm, capsys) == (1, (
        "Missing entries for VMs in /etc/hosts -\n10.1.1.10 vm-1\n"
        "10.1.1.10 vm-1: expected a line with this IP and name; "
        "found no /etc/hosts (the file does not exist)\n"))


def test_dns_false_is_skipped_and_a_record_without_mac_is_fine(vm, capsys):
    data(vm, virtualMachines="vmName=vm-1,ip=10.1.1.10;vmName=vm-2,ip=10.1.1.11,dns=false")
    put(vm, "/etc/hosts", "10.1.1.10\tvm-1\n")
    assert run(dns, vm, capsys) == (0, "All 1 VMs are present in /etc/hosts\n")


# ---- haproxy --------------------------------------------------------------------------------

RULE_80 = ("sourcePortStart=80,sourcePortEnd=80,sourceIp=198.18.0.21,destPortStart=80,"
           "destPortEnd=80,algorithm=roundrobin,protocol=tcp,stickiness=None,"
           "keepAliveEnabled=false,vmIps=198.19.1.10 198.19.1.11")
RULE_8080 = ("sourcePortStart=8080,sourcePortEnd=8080,sourceIp=198.18.0.21,destPortStart=8080,"
             "destPortEnd=8080,algorithm=leastconn,protocol=tcp,stickiness=LbCookie,"
             "keepAliveEnabled=false,vmIps=198.19.1.10 198.19.1.11")
RULE_22 = ("sourcePortStart=22,sourcePortEnd=22,sourceIp=198.18.0.22,destPortStart=22,"
           "destPortEnd=22,algorithm=source,protocol=tcp,stickiness=SourceBased,"
           "keepAliveEnabled=false,vmIps=198.19.1.11")
OLD_STYLE = ";".join(f"maxconn=4096,{rule}" for rule in (RULE_80, RULE_8080, RULE_22)) + ";"
GLOBAL_RECORD = ("global.maxconn=4096,global.maxpipes=1024,default.timeout.connect=5000,"
                 "default.timeout.server=50000,default.timeout.client=50000")
NEW_STYLE = ";".join((GLOBAL_RECORD, RULE_80, RULE_8080, RULE_22)) + ";"
SAMPLE_CFG = (DATA / "haproxy.cfg").read_text()


def haproxy_run(vm, capsys, records: str, cfg: str = SAMPLE_CFG) -> tuple[int, str]:
    data(vm, haproxyData=records)
    put(vm, "/etc/haproxy/haproxy.cfg", cfg)
    return run(haproxy, vm, capsys)


@pytest.mark.parametrize("records", [OLD_STYLE, NEW_STYLE], ids=["maxconn per rule", "global record"])
def test_haproxy_sample_passes(records, vm, capsys):
    assert haproxy_run(vm, capsys, records) == (0, "All checks pass\n")


def test_haproxy_without_blank_lines_comments_and_spaces(vm, capsys):
    cfg = "\n".join(line.replace("\t", "    ") for line in SAMPLE_CFG.splitlines()
                    if line.strip()) + "\n# the end\n"
    cfg = cfg.replace("balance leastconn", "balance  leastconn   # sticky")
    assert haproxy_run(vm, capsys, NEW_STYLE, cfg) == (0, "All checks pass\n")


@pytest.mark.parametrize("edit, message", [
    (("maxconn 4096", "maxconn 2000"),
     "global maxconn mismatch occured. Expected 4096 but found 2000"),
    (("\tmaxconn 4096\n", ""),
     "global maxconn mismatch occured. Expected 4096 but found no maxconn line in the global "
     "section"),
    (("maxpipes 1024", "maxpipes 512"),
     "global maxpipes mismatch occured. Expected 1024 but found 512"),
    (("timeout connect    5000", "timeout connect 4s"),
     "default timeout connect mismatch occured. Expected 5000 but found 4s"),
    (("balance leastconn", "balance source"),
     "Incorrect balance method for listen 198_18_0_21-8080. Expected leastconn but found source"),
    (("\tbalance leastconn\n", ""),
     "Incorrect balance method for listen 198_18_0_21-8080. Expected leastconn but found no "
     "balance line (roundrobin by default)"),
    (("bind 198.18.0.21:80\n", "bind 198.18.0.21:8000\n"),
     "Incorrect bind string found. Expected 198.18.0.21:80 but found 198.18.0.21:8000."),
    (("bind 198.18.0.21:80\n", "bind 198.18.0.210:80\n"),
     "Incorrect bind string found. Expected 198.18.0.21:80 but found 198.18.0.210:80."),
    (("\tbind 198.18.0.22:22\n", ""),
     "Incorrect bind string found. Expected 198.18.0.22:22 but found no bind line."),
    (("\tcookie lbcooki_1309737213_8080 insert indirect nocache \n\tmode http\n", ""),
     "Expected HTTP mode but not found in listen 198_18_0_21-8080: found mode tcp (from "
     "defaults)"),
    (("\tserver 198_18_0_21-80_1 198.19.1.11:80 check\n", ""),
     "Missing load balancing for 198.19.1.11:80. Expected a server 198.19.1.11:80 in listen "
     "198_18_0_21-80 but found servers 198.19.1.10:80"),
    (("\tserver 198_18_0_22-22_0 198.19.1.11:22 check\n", ""),
     "Missing load balancing for 198.19.1.11:22. Expected a server 198.19.1.11:22 in listen "
     "198_18_0_22-22 but found no server lines"),
    (("listen 198_18_0_22-22", "listen 198_18_0_22-2222"),
     "Missing section for load balancing listen 198_18_0_22-22; found listen 198_18_0_22-2222"),
    (("listen 198_18_0_22-22", "listen vm_ssh"),
     "Missing section for load balancing listen 198_18_0_22-22; found no section for "
     "198.18.0.22"),
])
def test_haproxy_each_failure(edit, message, vm, capsys):
    cfg = SAMPLE_CFG.replace(*edit)
    assert cfg != SAMPLE_CFG
    assert haproxy_run(vm, capsys, NEW_STYLE, cfg) == (1, message + "\n")


def test_haproxy_several_failures_one_line_each(vm, capsys):
    cfg = SAMPLE_CFG.replace("maxconn 4096", "maxconn 10").replace(
        "balance roundrobin", "balance source").replace("\tmode http\n\toption httpclose\n", "")
    status, out = haproxy_run(vm, capsys, OLD_STYLE, cfg)
    assert status == 1
    assert out.splitlines() == [
        "global maxconn mismatch occured. Expected 4096 but found 10",
        "Incorrect balance method for listen 198_18_0_21-80. Expected roundrobin but found source",
        "Expected HTTP mode but not found in listen 198_18_0_21-80: found mode tcp (from defaults)",
        "Expected HTTP mode but not found in listen 198_18_0_21-8080: found mode tcp (from "
        "defaults)",
    ]


@pytest.mark.parametrize("rule, needs_http", [
    (RULE_80, True),                                         # port 80 without keep-alive
    (RULE_80.replace("keepAliveEnabled=false", "keepAliveEnabled=true"), False),
    (RULE_80.replace(",keepAliveEnabled=false", ""), False),  # older server: not sent
    (RULE_80 + ",http=false", False),                        # LB config: http off
    (RULE_22.replace("stickiness=SourceBased", "stickiness=AppCookie"), True),
    (RULE_22.replace("stickiness=SourceBased", "stickiness=SourceBased LbCookie"), True),
    (RULE_22 + ",http=true", True),
    (RULE_22.replace(",stickiness=SourceBased", ""), False),
])
def test_haproxy_when_http_mode_is_required(rule, needs_http, vm, capsys):
    section = "listen 198_18_0_21-80" if "sourcePortStart=80," in rule else "listen 198_18_0_22-22"
    cfg = SAMPLE_CFG.replace("\tmode http\n\toption httpclose\n", "")
    status, out = haproxy_run(vm, capsys, rule, cfg)
    if needs_http:
        assert (status, out) == (1, f"Expected HTTP mode but not found in {section}: "
                                    f"found mode tcp (from defaults)\n")
    else:
        assert (status, out) == (0, "All checks pass\n")


def test_haproxy_mode_inherited_from_defaults_counts(vm, capsys):
    cfg = SAMPLE_CFG.replace("mode    tcp", "mode    http").replace(
        "\tmode http\n\toption httpclose\n", "")
    cfg = cfg.replace("\tstick-table", "\tmode tcp\n\tstick-table")
    assert haproxy_run(vm, capsys, NEW_STYLE, cfg) == (0, "All checks pass\n")
    cfg = cfg.replace("\tmode    http\n", "")
    status, out = haproxy_run(vm, capsys, NEW_STYLE, cfg)
    assert status == 1
    assert "Expected HTTP mode but not found in listen 198_18_0_21-80: found no mode line " \
           "(tcp by default)" in out.splitlines()


def test_haproxy_only_a_global_record(vm, capsys):
    assert haproxy_run(vm, capsys, GLOBAL_RECORD) == (0, "All checks pass\n")
    without_global = "defaults\n" + SAMPLE_CFG.split("defaults\n", 1)[1]
    status, out = haproxy_run(vm, capsys, GLOBAL_RECORD, without_global)
    assert (status, out.splitlines()) == (1, [
        "global maxconn mismatch occured. Expected 4096 but found no global section",
        "global maxpipes mismatch occured. Expected 1024 but found no global section"])


def test_haproxy_records_without_source_ip_are_not_rules(vm, capsys):
    records = f"{GLOBAL_RECORD};lb.something=1;{RULE_22}"
    assert haproxy_run(vm, capsys, records) == (0, "All checks pass\n")


def test_haproxy_transparent_rule_uses_frontend_and_backend(vm, capsys):
    rule = RULE_22 + ",transparent=true"
    cfg = SAMPLE_CFG.replace(
        "listen 198_18_0_22-22\n\tbind 198.18.0.22:22\n",
        "frontend 198_18_0_22-22\n\tbind 198.18.0.22:22\n\tdefault_backend 198_18_0_22-22-backend"
        "\n\t \nbackend 198_18_0_22-22-backend\n")
    assert haproxy_run(vm, capsys, rule, cfg) == (0, "All checks pass\n")
    assert haproxy_run(vm, capsys, rule) == (
        1, "Missing section for load balancing frontend 198_18_0_22-22; found listen "
           "198_18_0_22-22\n")


def test_haproxy_ssl_bind(vm, capsys):
    rule = RULE_22 + ",sslcert=web.pem"
    cfg = SAMPLE_CFG.replace("bind 198.18.0.22:22", "bind 198.18.0.22:22 ssl crt "
                             "/etc/ssl/cloudstack/web.pem").replace("balance source",
                                                                    "balance source\n\tmode http")
    assert haproxy_run(vm, capsys, rule, cfg) == (0, "All checks pass\n")
    assert haproxy_run(vm, capsys, rule, cfg.replace("web.pem", "old.pem")) == (
        1, "Incorrect bind string found. Expected 198.18.0.22:22 ssl crt "
           "/etc/ssl/cloudstack/web.pem but found 198.18.0.22:22 ssl crt "
           "/etc/ssl/cloudstack/old.pem.\n")


def test_haproxy_port_ranges(vm, capsys):
    rule = RULE_22.replace("sourcePortEnd=22", "sourcePortEnd=24").replace(
        "destPortEnd=22", "destPortEnd=24")
    status, out = haproxy_run(vm, capsys, rule)
    assert (status, out) == (1, "Missing section for load balancing listen 198_18_0_22-22-24; "
                                "found listen 198_18_0_22-22\n")


@pytest.mark.parametrize("cfg, message", [
    (None, "Unable to read config file /etc/haproxy/haproxy.cfg: the file does not exist"),
    ("", "Unable to read config file /etc/haproxy/haproxy.cfg: the file is empty"),
    ("\n \t \n", "Unable to read config file /etc/haproxy/haproxy.cfg: the file is empty"),
])
def test_haproxy_missing_or_empty_file(cfg, message, vm, capsys):
    data(vm, haproxyData=NEW_STYLE)
    if cfg is not None:
        put(vm, "/etc/haproxy/haproxy.cfg", cfg)
    assert run(haproxy, vm, capsys) == (1, message + "\n")


def test_haproxy_unreadable_file(vm, capsys):
    data(vm, haproxyData=NEW_STYLE)
    (vm / "etc/haproxy/haproxy.cfg").mkdir()
    assert run(haproxy, vm, capsys) == (
        1, "Unable to read config file /etc/haproxy/haproxy.cfg: Is a directory\n")


def test_haproxy_rule_without_a_field_names_the_data_file(vm, capsys):
    rule = RULE_22.replace(",algorithm=source", "").replace(",vmIps=198.19.1.11", "")
    assert haproxy_run(vm, capsys, f"{GLOBAL_RECORD};{rule}") == (
        1, "/root/health_checks_data.json: haproxyData record 2 (198.18.0.22) has no algorithm "
           "and no vmIps\n")


# ---- iptables -------------------------------------------------------------------------------

PF_22 = ("sourceIp=198.18.0.20,sourcePortStart=22,sourcePortEnd=22,destIp=198.19.1.10,"
         "destPortStart=22,destPortEnd=22")
PF_RANGE = ("sourceIp=198.18.0.20,sourcePortStart=2000,sourcePortEnd=2005,destIp=198.19.1.11,"
            "destPortStart=3000,destPortEnd=3005")
SAVED = """\
# Generated by iptables-save v1.8.9 (nf_tables)
*nat
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
-A PREROUTING -d 198.18.0.20/32 -i eth2 -p tcp -m tcp --dport 22 -j DNAT --to-destination 198.19.1.10:22
-A PREROUTING -d 198.18.0.20/32 -p tcp -m tcp --dport 2000:2005 -j DNAT --to-destination 198.19.1.11:3000-3005
-A OUTPUT -d 198.18.0.20/32 -p tcp -m tcp --dport 22 -m comment --comment "pf rule" -j DNAT --to-destination 198.19.1.10:22
-A OUTPUT -d 198.18.0.20/32 -p tcp -m tcp --dport 2000:2005 -j DNAT --to-destination 198.19.1.11:3000-3005
COMMIT
"""
PRE_22 = ("-A PREROUTING -d 198.18.0.20/32 -i eth2 -p tcp -m tcp --dport 22 -j DNAT "
          "--to-destination 198.19.1.10:22\n")


def test_iptables_all_found():
    assert iptables.check(parse_records(f"{PF_22};{PF_RANGE}"), SAVED) == (
        "Found all entries (count 2) in iptables", True)


def test_iptables_missing_rule_message():
    saved = SAVED.replace(PRE_22, "")
    message, ok = iptables.check(parse_records(f"{PF_22};{PF_RANGE}"), saved)
    assert not ok
    assert message == (
        "Missing port forwarding rules in Iptables-\n"
        " ['PREROUTING', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']\n"
        "PREROUTING: expected a rule with -d 198.18.0.20 --dport 22 --to-destination "
        "198.19.1.10:22; found -A PREROUTING -d 198.18.0.20/32 -p tcp -m tcp --dport 2000:2005 "
        "-j DNAT --to-destination 198.19.1.11:3000-3005")


@pytest.mark.parametrize("decoy", [
    PRE_22.replace("198.18.0.20/32", "198.18.0.200/32"),  # the reference's substring
    PRE_22.replace("--dport 22 ", "--dport 2222 "),       # matches counted these
    PRE_22.replace(":22\n", ":2222\n"),
    PRE_22.replace("198.19.1.10:22", "198.19.1.100:22"),
    PRE_22.replace("-d 198.18.0.20/32", "! -d 198.18.0.20/32"),
    PRE_22.replace("198.18.0.20/32", "198.18.0.0/24"),
    PRE_22.replace("-A PREROUTING", "-A POSTROUTING"),
])
def test_iptables_near_misses_do_not_count(decoy):
    saved = SAVED.replace(PRE_22, decoy)
    message, ok = iptables.check(parse_records(PF_22), saved)
    assert not ok
    assert message.splitlines()[1] == (
        " ['PREROUTING', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']")


def test_iptables_nothing_for_the_vm():
    message, ok = iptables.check(parse_records(PF_22), "*nat\nCOMMIT\n")
    assert (message, ok) == ((
        "Missing port forwarding rules in Iptables-\n"
        " ['PREROUTING', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']\n"
        "['OUTPUT', '-d 198.18.0.20', '--dport 22', '--to-destination 198.19.1.10:22']\n"
        "PREROUTING: expected a rule with -d 198.18.0.20 --dport 22 --to-destination "
        "198.19.1.10:22; found no PREROUTING rule for 198.18.0.20 or to 198.19.1.10\n"
        "OUTPUT: expected a rule with -d 198.18.0.20 --dport 22 --to-destination "
        "198.19.1.10:22; found no OUTPUT rule for 198.18.0.20 or to 198.19.1.10"), False)


def fake_iptables_save(folder: Path, body: str) -> None:
    script = folder / "iptables-save"
    script.write_text("#!/bin/sh\n" + body)
    os.chmod(script, 0o755)


@pytest.mark.parametrize("body, message", [
    ("echo 'iptables-save v1.8.9: cannot initialize' >&2\nexit 3\n",
     "iptables-save exited with status 3: iptables-save v1.8.9: cannot initialize"),
    ("exec sleep 30\n", "iptables-save did not finish within 0.5 s"),
])
def test_iptables_save_failing(body, message, vm, capsys, monkeypatch, tmp_path):
    fake_iptables_save(tmp_path, body)
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    monkeypatch.setattr(iptables, "TIMEOUT", 0.5)
    data(vm, portForwarding=PF_22)
    assert run(iptables, vm, capsys) == (
        1, f"Unable to execute iptables-save command for fetching rules: {message}\n")


def test_iptables_through_main_with_a_fake_save(vm, capsys, monkeypatch, tmp_path):
    (tmp_path / "saved").write_text(SAVED)
    fake_iptables_save(tmp_path, f"cat {tmp_path / 'saved'}\n")
    monkeypatch.setenv("PATH", f"{tmp_path}:/usr/bin:/bin")
    data(vm, portForwarding=f"{PF_22};{PF_RANGE};")
    assert run(iptables, vm, capsys) == (0, "Found all entries (count 2) in iptables\n")


def test_iptables_record_without_a_field(vm, capsys):
    data(vm, portForwarding=PF_22.replace(",destIp=198.19.1.10", ""))
    assert run(iptables, vm, capsys) == (1, (
        "/root/health_checks_data.json: portForwarding record 1 (sourceIp=198.18.0.20,"
        "sourcePortStart=22,sourcePortEnd=22,destPortStart=22,destPortEnd=22) has no destIp\n"))
