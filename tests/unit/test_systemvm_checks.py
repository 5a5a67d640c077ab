"""The six checks of the SSVM and CPVM (contract 10.7; scenarios A22-A28 where no network or
mount is needed: those run for real in tests/integration/test_systemvm_checks.py)."""

import importlib
import json
import os
import time

import pytest

from tests import tls_certs
from vrmonitor.checks import (consoleproxy_listeners, secstorage_mount, secstorage_webserver,
                              systemvm_agent, systemvm_certificate, systemvm_dns)
from vrmonitor.checks.systemvm import Thresholds
from vrmonitor.cloudstack.cmdline import BootArgs, parse_cmdline
from vrmonitor.paths import Paths

CHECKS = {"secstorage_mount": "basic", "systemvm_agent": "basic", "secstorage_webserver": "basic",
          "consoleproxy_listeners": "basic", "systemvm_certificate": "advanced",
          "systemvm_dns": "advanced"}


def _vm(root, cmdline: str | None, booted_ago: float | None = 3600.0) -> Paths:
    paths = Paths(root)
    paths.config_cache.mkdir(parents=True, exist_ok=True)
    if cmdline is not None:
        paths.cmdline.write_text(cmdline + "\n")
    if booted_ago is not None:
        paths.boot_up_done.touch()
        stamp = time.time() - booted_ago
        os.utime(paths.boot_up_done, (stamp, stamp))
    return paths


def _boot(text: str) -> BootArgs:
    return BootArgs(parse_cmdline(text), present=True)


# --- role gating (A22, A23) ------------------------------------------------------------------

@pytest.mark.parametrize("cmdline", [None, "type=router name=r-4-VM", "type=vpcrouter", "name=x"])
@pytest.mark.parametrize("module", sorted(CHECKS))
def test_silent_on_any_other_role(tmp_path, capsys, module, cmdline):
    _vm(tmp_path, cmdline)
    check = importlib.import_module(f"vrmonitor.checks.{module}")
    for kind in ("basic", "advanced"):
        assert check.main([kind], str(tmp_path)) == 0
    assert capsys.readouterr() == ("", "")


def test_mount_check_is_silent_on_the_console_proxy(tmp_path, capsys):
    _vm(tmp_path, "type=consoleproxy name=v-2-VM")
    assert secstorage_mount.main(["basic"], str(tmp_path)) == 0
    assert capsys.readouterr() == ("", "")


@pytest.mark.parametrize("module", ["secstorage_mount", "systemvm_agent"])
def test_skips_while_booting(tmp_path, capsys, module):
    _vm(tmp_path, "type=secstorage name=s-1-VM", booted_ago=10)
    check = importlib.import_module(f"vrmonitor.checks.{module}")
    assert check.main(["basic"], str(tmp_path)) == 0
    assert capsys.readouterr().out == "System VM still booting, skipping\n"


def test_no_boot_up_done_is_still_booting(tmp_path, capsys):
    _vm(tmp_path, "type=consoleproxy", booted_ago=None)
    assert consoleproxy_listeners.main(["basic"], str(tmp_path)) == 0
    assert capsys.readouterr().out == "System VM still booting, skipping\n"


def test_invalid_threshold_is_named(tmp_path, capsys):
    paths = _vm(tmp_path, "type=secstorage")
    paths.health_checks_data.parent.mkdir(parents=True, exist_ok=True)
    paths.health_checks_data.write_text(json.dumps({"health_checks_enabled": True, "health_checks_config": {
        "systemVmThresholds": "ioTimeout=soon;"}}))
    assert secstorage_mount.main(["basic"], str(tmp_path)) == 1
    assert capsys.readouterr().out == ("Invalid ioTimeout in health_checks_data systemVmThresholds: "
                                       "expected a number of 0 or more, found 'soon'\n")


# --- mounts (A24, A25) -----------------------------------------------------------------------

def test_a24_mount_folder_name():
    assert secstorage_mount.mount_dir("10.0.0.5:/export/secondary") == "f2702c89-b250-31ef-8d57-b75482e224c2"


def _mountinfo(tmp_path, paths, rows: list[tuple[str, str, str]]) -> str:
    lines = ["22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw"]
    for number, (folder, fstype, source) in enumerate(rows, start=30):
        point = paths.secstorage_dir / folder
        point.mkdir(parents=True, exist_ok=True)
        shown = str(point).replace(" ", "\\040")
        lines.append(f"{number} 22 0:{number} / {shown} rw,relatime shared:9 - {fstype} {source} rw,addr=x")
    lines.append(f"99 22 0:99 / {paths.root}/mnt/other rw - nfs 10.9.9.9:/x rw")
    table = tmp_path / "mountinfo"
    table.write_text("\n".join(lines) + "\n")
    return str(table)


def test_a25_one_writable_mount(tmp_path, capsys):
    paths = _vm(tmp_path / "vm", "type=secstorage name=s-1-VM secondaryStorageServerAddress=10.0.0.5")
    table = _mountinfo(tmp_path, paths, [(secstorage_mount.mount_dir("10.0.0.5:/export/secondary"),
                                          "nfs", "10.0.0.5:/export/secondary")])
    assert secstorage_mount.main(["basic"], str(paths.root), mountinfo=table) == 0
    assert capsys.readouterr().out == "All 1 secondary storage mounts are mounted and writable\n"
    assert os.listdir(paths.secstorage_dir / secstorage_mount.mount_dir("10.0.0.5:/export/secondary")) == []


def test_mountinfo_escapes_and_types(tmp_path):
    paths = _vm(tmp_path / "vm", "type=secstorage")
    table = _mountinfo(tmp_path, paths, [("a b", "cifs", "//10.0.0.6/share"), ("c", "tmpfs", "tmpfs"),
                                         ("d", "nfs4", "[fd00::5]:/export")])
    found = secstorage_mount.storage_mounts(str(paths.secstorage_dir), table)
    assert [(m.server, os.path.basename(m.point), m.fstype) for m in found] == [
        ("10.0.0.6", "a b", "cifs"), ("fd00::5", "d", "nfs4")]


def test_a25_read_only_unwritable_and_missing_store(tmp_path):
    paths = _vm(tmp_path / "vm", "type=secstorage name=s-1-VM "
                "secondaryStorageServerAddress=10.0.0.5,10.0.0.7")
    table = _mountinfo(tmp_path, paths, [("ro", "nfs", "10.0.0.5:/ro"), ("bad", "nfs", "10.0.0.5:/bad")])
    outcomes = iter(["ro", "Permission denied"])

    def probe(points, name, deadline):
        return [next(outcomes) for _ in points]

    boot = _boot(paths.cmdline.read_text())
    original = secstorage_mount.probe_all
    secstorage_mount.probe_all = probe
    try:
        message, ok = secstorage_mount.judge(paths, boot, 10.0, table)
    finally:
        secstorage_mount.probe_all = original
    assert not ok
    assert message == ("Secondary storage 10.0.0.5:/ro at /mnt/SecStorage/ro is read-only\n"
                       "Secondary storage 10.0.0.5:/bad at /mnt/SecStorage/bad is not writable: Permission denied\n"
                       "Image store address 10.0.0.7 has no mount under /mnt/SecStorage")


def test_a25_no_mount_tries_each_store_address(tmp_path):
    paths = _vm(tmp_path / "vm", "type=secstorage secondaryStorageServerAddress=10.0.0.5")
    table = _mountinfo(tmp_path, paths, [])
    asked = []

    def reason(host, port):
        asked.append((host, port))
        return "Connection refused"

    from vrmonitor.checks.systemvm import reach_lines
    message, ok = secstorage_mount.judge(
        paths, _boot(paths.cmdline.read_text()), 10.0, table,
        reach=lambda hosts, port, label: reach_lines(hosts, port, label, reason))
    assert (message, ok) == ("No secondary storage is mounted under /mnt/SecStorage\n"
                             "Storage address 10.0.0.5: port 2049 unreachable: Connection refused", False)
    assert asked == [("10.0.0.5", 2049)]


def test_a25_a_probe_that_blocks_is_killed_at_the_deadline(tmp_path, monkeypatch):
    # The forked probe sleeps as a probe on a dead NFS server blocks; the parent must give up
    # at the deadline and kill it (the real dead server: tests/integration/test_systemvm_checks.py).
    paths = _vm(tmp_path / "vm", "type=secstorage name=s-1-VM")
    table = _mountinfo(tmp_path, paths, [("dead", "nfs", "10.0.0.5:/dead")])
    monkeypatch.setattr(secstorage_mount, "_probe", lambda point, name: time.sleep(600) or "")
    started = time.monotonic()
    message, ok = secstorage_mount.judge(paths, _boot(paths.cmdline.read_text()), 0.5, table)
    assert (message, ok) == ("Secondary storage 10.0.0.5:/dead at /mnt/SecStorage/dead did not "
                             "answer within 0.5 s", False)
    assert time.monotonic() - started < 5.0  # bounded by the deadline, not by the probe


# --- agent (A26) -----------------------------------------------------------------------------

def _proc(tmp_path, pid: int, argv: list[str], sockets: dict[str, str], tcp_rows: list[str]) -> str:
    """A /proc-shaped folder: one process, its socket descriptors and its net/tcp table."""
    proc = tmp_path / "proc"
    folder = proc / str(pid)
    (folder / "fd").mkdir(parents=True)
    (folder / "net").mkdir()
    (folder / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (folder / "status").write_text("Name:\tjava\nUid:\t0\t0\t0\t0\n")  # root's, as the agent is
    for fd, inode in sockets.items():
        os.symlink(f"socket:[{inode}]", folder / "fd" / fd)
    header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
    (folder / "net" / "tcp").write_text(header + "".join(row + "\n" for row in tcp_rows))
    (folder / "net" / "tcp6").write_text(header)
    return str(proc)


def _row(local: str, remote: str, state: str, inode: str) -> str:
    return f"   0: {local} {remote} {state} 00000000:00000000 00:00000000 00000000     0        0 {inode} 1"


JAVA = ["java", "-cp", "x.jar", "com.cloud.agent.AgentShell", "type=secstorage"]


def test_a26_agent_connected(tmp_path):
    # 10.0.0.2:8250 -> 0200000A:203A in /proc/net/tcp's byte order
    proc = _proc(tmp_path, 4242, JAVA, {"7": "555"},
                 [_row("0100000A:9C40", "0200000A:203A", "01", "555"),
                  _row("0100000A:9C41", "0300000A:203A", "01", "999")])
    boot = _boot("type=secstorage host=10.0.0.1,10.0.0.2 port=8250")
    assert systemvm_agent.judge(Paths(tmp_path), boot, proc) == (
        "Agent connected to management server 10.0.0.2:8250", True)


def test_a26_agent_not_connected_names_each_host(tmp_path):
    proc = _proc(tmp_path, 4242, JAVA, {"7": "555"},
                 [_row("0100000A:9C40", "0200000A:203A", "06", "555")])  # TIME_WAIT
    boot = _boot("type=secstorage host=10.0.0.1,10.0.0.2 port=8250")
    reasons = {"10.0.0.1": None, "10.0.0.2": "Connection refused"}

    def reach(hosts, port, label):
        return [f"{label(h)} reachable" if reasons[h] is None else f"{label(h)} unreachable: {reasons[h]}"
                for h in hosts]

    assert systemvm_agent.judge(Paths(tmp_path), boot, proc, reach=reach) == (
        "Agent is not connected to a management server on port 8250\n"
        "10.0.0.1:8250 reachable\n10.0.0.2:8250 unreachable: Connection refused", False)


def test_any_java_is_not_the_agent(tmp_path):
    proc = _proc(tmp_path, 4242, ["java", "-jar", "other.jar"], {}, [])
    assert systemvm_agent.judge(Paths(tmp_path), _boot("type=consoleproxy"), proc, state=lambda: "activating") == (
        "Agent process com.cloud.agent.AgentShell is not running (cloud service activating)", False)


# --- web server --------------------------------------------------------------------------------

def test_webserver_pass_and_failures(tmp_path):
    boot = _boot("type=secstorage eth2ip=192.0.2.10 sslcopy=true")
    assert secstorage_webserver.judge(Paths(tmp_path), boot, running=lambda name: [1],
                                      reason=lambda host, port, tls: None) == (
        "Template web server answering on 192.0.2.10:80 and 192.0.2.10:443", True)
    assert secstorage_webserver.judge(
        Paths(tmp_path), boot, running=lambda name: [1],
        reason=lambda host, port, tls: "Connection refused" if tls else None) == (
        "Template web server not answering on 192.0.2.10:443: Connection refused", False)
    assert secstorage_webserver.judge(Paths(tmp_path), boot, running=lambda name: []) == (
        "apache2 is not running", False)


# --- listeners (A27) ---------------------------------------------------------------------------

RULE = "-A INPUT -i eth2 -p tcp -m state --state NEW -m tcp --dport 8443 -j ACCEPT\n"


def _listeners(tmp_path, rules: str, premium: bool = True, vncport: str | None = "8443", **fakes):
    paths = _vm(tmp_path, "type=consoleproxy" + (" premium=true" if premium else ""))
    if vncport is not None:
        paths.vncport.parent.mkdir(parents=True, exist_ok=True)
        paths.vncport.write_text(vncport + "\n")
    options = {"listening": lambda host, port, timeout: None, "handshake": lambda host, port, timeout: None,
               "status": lambda: 2, "rules": lambda: "*filter\n:INPUT DROP [0:0]\n" + rules + "COMMIT\n"}
    options.update(fakes)
    return consoleproxy_listeners.judge(paths, _boot(paths.cmdline.read_text()), **options)


def test_a27_all_listening(tmp_path):
    assert _listeners(tmp_path, RULE) == (
        "Console proxy listening on 443, websocket 8443 and command port 8001 with 2 active sessions", True)


def test_a27_websocket_rule_missing(tmp_path):
    assert _listeners(tmp_path, RULE.replace("eth2", "eth1")) == (
        "Console proxy websocket port 8443 is not allowed by iptables on eth2", False)


def test_listeners_defaults_and_failures(tmp_path):
    refused = {80: "Connection refused"}
    message, ok = _listeners(tmp_path, "", premium=False, vncport=None,
                             listening=lambda host, port, timeout: refused.get(port),
                             status=lambda: (_ for _ in ()).throw(ValueError("HTTP status 500")))
    assert (message, ok) == ("Console proxy port 80 is not listening\n"
                             "Console proxy command port 8001 did not answer /cmd/getstatus: HTTP status 500\n"
                             "Console proxy websocket port 8080 is not allowed by iptables on eth2", False)


def test_getstatus_sessions_from_a_real_socket():
    import socket
    import threading

    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)

    def serve():
        conn, _ = server.accept()
        conn.recv(4096)
        conn.sendall(b'HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n{"connections":[{},{}]}')
        conn.close()

    thread = threading.Thread(target=serve)
    thread.start()
    try:
        assert consoleproxy_listeners.sessions("127.0.0.1", server.getsockname()[1]) == 2
    finally:
        thread.join()
        server.close()


# --- certificate (A28) -------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    root = tls_certs.authority(folder)
    middle = tls_certs.issued(folder, "middle", root, "Test Intermediate CA", [], 1000, ca=True)
    made = {"root": root, "middle": middle}
    for stem, days in (("valid", 90), ("expiring", 10), ("expired", -1)):
        made[stem] = tls_certs.issued(folder, stem, middle, "*.cp.example.com", ["*.cp.example.com"], days)
    return made


def _certificate(tmp_path, certs, stem: str, chain=("middle",), limits=Thresholds(), trusted=True,
                 cmdline="type=consoleproxy premium=true eth2ip=192.0.2.10", status_format=None):
    paths = _vm(tmp_path, cmdline)
    if trusted:
        tls_certs.trust(paths.under("/etc/ssl/certs"), certs["root"][0])
    if status_format:
        paths.config_file.parent.mkdir(parents=True, exist_ok=True)
        paths.config_file.write_text(f'[health]\nstatus_format = "{status_format}"\n')
    pems = [certs[stem][0].read_text()] + [certs[name][0].read_text() for name in chain]
    return systemvm_certificate.judge(paths, _boot(paths.cmdline.read_text()), limits,
                                      fetch=lambda host, port: pems, reason=lambda host, port: None)


def _until(certs, stem):
    return systemvm_certificate.describe(certs[stem][0].read_text()).not_after


def test_a28_valid_wildcard_names_the_dashed_host(tmp_path, certs):
    until = time.strftime("%Y-%m-%d", time.gmtime(_until(certs, "valid")))
    assert _certificate(tmp_path, certs, "valid") == (
        f"Certificate *.cp.example.com on port 443 valid until {until} (89 days left), chain complete, "
        "hostname 192-0-2-10.cp.example.com matches", 0)


def test_a28_expiring_is_a_warning(tmp_path, certs):
    until = time.strftime("%Y-%m-%d", time.gmtime(_until(certs, "expiring")))
    line = f"Certificate *.cp.example.com on port 443 expires in 9 days ({until}), threshold 30 days"
    assert _certificate(tmp_path, certs, "expiring") == (line, 1)
    assert _certificate(tmp_path, certs, "expiring", status_format="enum") == (line, 1)  # WARNING


def test_a28_expired_is_a_failure(tmp_path, certs):
    until = time.strftime("%Y-%m-%d", time.gmtime(_until(certs, "expired")))
    line = f"Certificate *.cp.example.com on port 443 expired on {until}"
    assert _certificate(tmp_path, certs, "expired") == (line, 1)
    assert _certificate(tmp_path, certs, "expired", status_format="enum") == (line, 2)  # FAILED


def test_a28_url_domain_mismatch(tmp_path, certs):
    assert _certificate(tmp_path, certs, "valid", limits=Thresholds(url_domain="*.other.example.com")) == (
        "Certificate on port 443 does not match hostname 192-0-2-10.other.example.com "
        "(names: *.cp.example.com)", 1)


def test_incomplete_chain_names_the_missing_issuer(tmp_path, certs):
    assert _certificate(tmp_path, certs, "valid", chain=()) == (
        "Certificate chain on port 443 is incomplete: issuer CN=Test Intermediate CA of "
        "CN=*.cp.example.com not served and not trusted", 1)
    assert _certificate(tmp_path / "untrusted", certs, "valid", trusted=False)[0] == (
        "Certificate chain on port 443 is incomplete: issuer CN=Test Root CA of "
        "CN=Test Intermediate CA not served and not trusted")


def test_a28_no_tls_is_a_skip(tmp_path, capsys, certs):
    _vm(tmp_path, "type=consoleproxy")  # no premium, websocket 8080
    assert systemvm_certificate.main(["advanced"], str(tmp_path)) == 0
    assert capsys.readouterr().out == "SSL is not enabled on this system VM, skipping\n"


def test_status_format_enum_reads_the_certificate_check_as_nagios():
    from vrmonitor.config.settings import HealthSettings
    assert HealthSettings(status_format="enum").dialect_for("systemvm_certificate_check.py") == "nagios"
    assert HealthSettings().dialect_for("systemvm_certificate_check.py") == "cloudstack"


def test_hostname_matching():
    match = systemvm_certificate.matches
    assert match("192-0-2-10.cp.example.com", "*.cp.example.com")
    assert not match("a.192-0-2-10.cp.example.com", "*.cp.example.com")
    assert not match("cp.example.com", "*.cp.example.com")
    assert match("Proxy.Example.com", "proxy.example.com")


# --- DNS ---------------------------------------------------------------------------------------

def _dns(tmp_path, servers, answers, name="cloudstack.apache.org"):
    paths = _vm(tmp_path, "type=secstorage")
    paths.resolv_conf.parent.mkdir(parents=True, exist_ok=True)
    paths.resolv_conf.write_text("".join(f"nameserver {s}\n" for s in servers))
    return systemvm_dns.judge(paths, _boot("type=secstorage"), Thresholds(dns_check_name=name),
                              resolve=lambda server, asked: answers[server])


def test_dns_all_answer(tmp_path):
    assert _dns(tmp_path, ["10.0.0.53", "10.0.0.54"],
                {"10.0.0.53": (["198.18.0.1"], None), "10.0.0.54": (["198.18.0.1"], None)}) == (
        "All 2 DNS servers answer, cloudstack.apache.org resolves to 198.18.0.1", True)


def test_dns_silent_server_and_nxdomain(tmp_path):
    assert _dns(tmp_path, ["10.0.0.53", "10.0.0.54"],
                {"10.0.0.53": None, "10.0.0.54": ([], "no such name (NXDOMAIN)")}) == (
        "DNS server 10.0.0.53 did not answer within 3 s\n"
        "cloudstack.apache.org does not resolve: no such name (NXDOMAIN)", False)


def test_dns_without_a_name_skips(tmp_path):
    assert _dns(tmp_path, ["10.0.0.53"], {}, name="") == ("No DNS check name configured, skipping", True)


def test_dns_answer_parsing():
    ident, packet = systemvm_dns.query("a.example")
    answer = (packet[:2] + b"\x81\x80\x00\x01\x00\x01\x00\x00\x00\x00" + packet[12:]
              + b"\xc0\x0c\x00\x01\x00\x01\x00\x00\x00\x3c\x00\x04\xc6\x12\x00\x01")
    assert systemvm_dns.addresses(answer, ident) == (["198.18.0.1"], None)
    refused = packet[:2] + b"\x81\x83" + packet[4:]
    assert systemvm_dns.addresses(refused, ident) == ([], "no such name (NXDOMAIN)")
