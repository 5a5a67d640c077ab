"""The system VM checks (contract 10.7) for real: scenarios A25-A28 on real sockets, a real TLS
listener, real iptables, real mounts and a storage server that stops answering.

* Certificates (A28) are made in the test with the openssl command line: valid, expiring,
  expired, for the wrong host, and served without their intermediate. A Python TLS server
  serves them on 127.0.0.1:443 and :8443 inside a network namespace made by the test; the
  installed systemvm_certificate_check.py runs there (`ip netns exec`), with cron's PATH.
* The console proxy (A27): the same servers plus /cmd/getstatus on 8001, and the CPVM's
  firewall as real iptables rules in that namespace, with and without the websocket rule.
* The agent (A26): CloudStack's Java agent cannot run here, so a STAND-IN takes its place: a
  Python process started as `java` (a symbolic link to the interpreter) with
  com.cloud.agent.AgentShell in its arguments, connected to a STAND-IN management server port
  (198.18.50.2:8250 on the namespace's loopback).
* Mounts (A25): this kernel has no NFS client (no `nfs` in /proc/filesystems) and an NFS server
  cannot run in a test namespace here, so the mounts are real mounts of other kinds, made in a
  private mount namespace (`unshare -m`) and given to the check as its storage types: tmpfs
  (writable, then read-only) and an ext4 image served by fuse2fs, a userspace file system
  server. Stopping fuse2fs (SIGSTOP) is a dead storage server: every request to the mount
  blocks, as NFS I/O on a server that went away does. The run must still end within ioTimeout.
Addresses are 198.18.0.0/15 inside the test's namespaces; everything made is removed.
"""

import itertools
import json
import os
import subprocess
import sys
import textwrap
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests import tls_certs
from tests.conftest import require_root
from vrmonitor.compat.install import install
from vrmonitor.paths import Paths

CRON_PATH = "/usr/bin:/bin"
ROOT_NEEDED = ("the system VM check tests", "network and mount namespaces, iptables, FUSE")
PROJECT = Path(__file__).resolve().parents[2]
_numbers = itertools.count()

SERVER = textwrap.dedent('''
    import socket, ssl, sys, threading
    chain, key, tls_ports, http_ports = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(chain, key)
    STATUS = b'HTTP/1.0 200 OK\\r\\nContent-Type: application/json\\r\\n\\r\\n{"connections":[{},{}]}'
    def serve(listener, tls):
        while True:
            conn, _ = listener.accept()
            conn.settimeout(3)
            try:
                if tls:
                    conn = context.wrap_socket(conn, server_side=True)
                if conn.recv(4096):
                    conn.sendall(STATUS)
            except OSError:
                pass
            finally:
                conn.close()
    for ports, tls in ((tls_ports, True), (http_ports, False)):
        for port in filter(None, ports.split(",")):
            listener = socket.socket()
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind(("127.0.0.1", int(port)))
            listener.listen(16)
            threading.Thread(target=serve, args=(listener, tls), daemon=True).start()
    print("ready", flush=True)
    sys.stdin.read()
''')


def run(*argv: str, timeout: float = 30) -> str:
    done = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
    assert done.returncode == 0, f"{' '.join(argv)}: status {done.returncode}: {done.stdout}{done.stderr}"
    return done.stdout


@contextmanager
def namespace():
    require_root(*ROOT_NEEDED)
    name = f"vrmt-svm-{os.getpid()}-{next(_numbers)}"
    run("ip", "netns", "add", name)
    try:
        run("ip", "-n", name, "link", "set", "lo", "up")
        yield name
    finally:
        subprocess.run(["ip", "netns", "delete", name], capture_output=True, timeout=30)
    assert name not in run("ip", "netns", "list")


@contextmanager
def started(argv: list[str], ready: bool = True):
    """A process the test started (and ends by its PID)."""
    process = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        if ready:
            assert process.stdout.readline().strip() == "ready"
        yield process
    finally:
        process.kill()
        process.wait(timeout=10)
        process.stdin.close()
        process.stdout.close()


def system_vm(tmp_path: Path, cmdline: str) -> Path:
    """A system VM root: the entry points and checks installed, booted an hour ago."""
    require_root(*ROOT_NEEDED)
    root = tmp_path / "vm"
    (root / "root").mkdir(parents=True)
    install(Paths(root))
    paths = Paths(root)
    paths.config_cache.mkdir(parents=True)
    paths.cmdline.write_text(cmdline + "\n")
    paths.boot_up_done.touch()
    an_hour_ago = time.time() - 3600
    os.utime(paths.boot_up_done, (an_hour_ago, an_hour_ago))
    return root


def check(root: Path, name: str, kind: str, netns: str | None = None) -> tuple[int, str]:
    """The installed check as the runner runs it (cwd /root, cron's PATH): (status, stdout)."""
    script = str(root / "root/health_checks" / name)
    argv = ["ip", "netns", "exec", netns, script, kind] if netns else [script, kind]
    done = subprocess.run(argv, capture_output=True, text=True, cwd=root / "root",
                          env={"PATH": CRON_PATH}, timeout=60)
    assert done.stderr == "", done.stderr
    return done.returncode, done.stdout


# --- certificates (A28) ------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("certs")
    root = tls_certs.authority(folder)
    middle = tls_certs.issued(folder, "middle", root, "Test Intermediate CA", [], 1000, ca=True)
    made = {"root": root, "middle": middle, "folder": folder}
    for stem, days, name in (("valid", 90, "*.cp.example.com"), ("expiring", 10, "*.cp.example.com"),
                             ("expired", -1, "*.cp.example.com"), ("other", 90, "*.other.example.com")):
        made[stem] = tls_certs.issued(folder, stem, middle, name, [name], days)
    return made


def _chain(certs, stem: str, with_middle: bool = True) -> Path:
    chain = certs["folder"] / f"{stem}-{with_middle}.chain.pem"
    chain.write_text(certs[stem][0].read_text() + (certs["middle"][0].read_text() if with_middle else ""))
    return chain


def _until(cert: Path) -> str:
    text = run("openssl", "x509", "-in", str(cert), "-noout", "-enddate", "-dateopt", "iso_8601")
    return text.split("=", 1)[1][:10]


def serve_and_check(tmp_path, certs, stem: str, with_middle: bool = True, config: str = "",
                    thresholds: str = "", cmdline: str = "type=consoleproxy premium=true eth2ip=192.0.2.10 name=v-2-VM"):
    root = system_vm(tmp_path, cmdline)
    tls_certs.trust(root / "etc/ssl/certs", certs["root"][0])
    (root / "root/vncport").write_text("8443\n")
    if thresholds:
        (root / "root/health_checks_data.json").write_text(json.dumps({
            "health_checks_enabled": True, "health_checks_config": {"systemVmThresholds": thresholds}}))
    if config:
        (root / "etc/vrmonitor").mkdir(parents=True, exist_ok=True)
        (root / "etc/vrmonitor/vrmonitor.toml").write_text(config)
    with namespace() as ns:
        argv = ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(_chain(certs, stem, with_middle)),
                str(certs[stem][1]), "443,8443", ""]
        with started(argv):
            return check(root, "systemvm_certificate_check.py", "advanced", ns)


def test_a28_valid_wildcard_certificate(tmp_path, certs):
    assert serve_and_check(tmp_path, certs, "valid") == (0, (
        f"Certificate *.cp.example.com on ports 443 and 8443 valid until {_until(certs['valid'][0])} "
        "(89 days left), chain complete, hostname 192-0-2-10.cp.example.com matches\n"))


def test_a28_expiring_certificate(tmp_path, certs):
    until = _until(certs["expiring"][0])
    assert serve_and_check(tmp_path, certs, "expiring") == (1, (
        f"Certificate *.cp.example.com on port 443 expires in 9 days ({until}), threshold 30 days\n"
        f"Certificate *.cp.example.com on port 8443 expires in 9 days ({until}), threshold 30 days\n"))


def test_a28_expired_certificate_is_failed_in_the_enum_vocabulary(tmp_path, certs):
    until = _until(certs["expired"][0])
    assert serve_and_check(tmp_path, certs, "expired", config='[health]\nstatus_format = "enum"\n') == (2, (
        f"Certificate *.cp.example.com on port 443 expired on {until}\n"
        f"Certificate *.cp.example.com on port 8443 expired on {until}\n"))


def test_a28_url_domain_of_another_host(tmp_path, certs):
    assert serve_and_check(tmp_path, certs, "valid", thresholds="urlDomain=*.other.example.com;") == (1, (
        "Certificate on port 443 does not match hostname 192-0-2-10.other.example.com (names: *.cp.example.com)\n"
        "Certificate on port 8443 does not match hostname 192-0-2-10.other.example.com (names: *.cp.example.com)\n"))


def test_incomplete_chain(tmp_path, certs):
    line = ("Certificate chain on port {} is incomplete: issuer CN=Test Intermediate CA of "
            "CN=*.cp.example.com not served and not trusted\n")
    assert serve_and_check(tmp_path, certs, "valid", with_middle=False) == (1, line.format(443) + line.format(8443))


def test_nothing_listening_on_the_tls_port(tmp_path, certs):
    root = system_vm(tmp_path, "type=consoleproxy premium=true eth2ip=192.0.2.10")
    with namespace() as ns:
        assert check(root, "systemvm_certificate_check.py", "advanced", ns) == (
            1, "No TLS answer on port 443: Connection refused\n")


# --- console proxy listeners and firewall (A27) ------------------------------------------------

def test_a27_listeners_with_and_without_the_websocket_rule(tmp_path, certs):
    root = system_vm(tmp_path, "type=consoleproxy premium=true eth2ip=192.0.2.10")
    (root / "root/vncport").write_text("8443\n")
    with namespace() as ns:
        argv = ["ip", "netns", "exec", ns, sys.executable, "-c", SERVER, str(_chain(certs, "valid")),
                str(certs["valid"][1]), "443,8443", "8001"]
        with started(argv):
            run("ip", "netns", "exec", ns, "iptables", "-P", "INPUT", "DROP")
            run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-i", "lo", "-j", "ACCEPT")
            assert check(root, "consoleproxy_listeners_check.py", "basic", ns) == (
                1, "Console proxy websocket port 8443 is not allowed by iptables on eth2\n")
            run("ip", "netns", "exec", ns, "iptables", "-A", "INPUT", "-i", "eth2", "-p", "tcp",
                "-m", "state", "--state", "NEW", "-m", "tcp", "--dport", "8443", "-j", "ACCEPT")
            assert check(root, "consoleproxy_listeners_check.py", "basic", ns) == (
                0, "Console proxy listening on 443, websocket 8443 and command port 8001 with 2 active sessions\n")
        # The proxy gone: every port says so.
        assert check(root, "consoleproxy_listeners_check.py", "basic", ns) == (1, (
            "Console proxy port 443 is not listening\n"
            "Console proxy command port 8001 did not answer /cmd/getstatus: Connection refused\n"
            "Console proxy websocket port 8443 is not listening\n"))


# --- the agent (A26), with stand-ins ------------------------------------------------------------

STAND_IN_MS = textwrap.dedent('''
    import socket, sys
    listener = socket.socket()
    listener.bind(("198.18.50.2", 8250))
    listener.listen(4)
    print("ready", flush=True)
    held = [listener.accept()[0]]  # the stand-in agent's connection, kept open
    sys.stdin.read()
''')
STAND_IN_AGENT = textwrap.dedent('''
    import socket, sys, time
    connection = socket.create_connection(("198.18.50.2", 8250))
    print("ready", flush=True)
    sys.stdin.read()
''')


def test_a26_stand_in_agent_connected_then_not(tmp_path):
    root = system_vm(tmp_path, "type=secstorage host=198.18.50.2,198.18.50.3 port=8250 name=s-1-VM")
    java = tmp_path / "java"  # the stand-in agent's process is named like the real one
    java.symlink_to(sys.executable)
    with namespace() as ns:
        run("ip", "-n", ns, "addr", "add", "198.18.50.2/32", "dev", "lo")
        ms = ["ip", "netns", "exec", ns, sys.executable, "-c", STAND_IN_MS]
        agent = ["ip", "netns", "exec", ns, str(java), "-c", STAND_IN_AGENT,
                 "com.cloud.agent.AgentShell", "type=secstorage"]
        with started(ms):
            with started(agent):
                assert check(root, "systemvm_agent_check.py", "basic", ns) == (
                    0, "Agent connected to management server 198.18.50.2:8250\n")
        with started(agent[:5] + ["-c", "import sys; print('ready', flush=True); sys.stdin.read()",
                                  "com.cloud.agent.AgentShell"]):
            assert check(root, "systemvm_agent_check.py", "basic", ns) == (1, (
                "Agent is not connected to a management server on port 8250\n"
                "198.18.50.2:8250 unreachable: Connection refused\n"
                "198.18.50.3:8250 unreachable: Network is unreachable\n"))


# --- mounts (A25) -------------------------------------------------------------------------------

MOUNTS = textwrap.dedent('''
    import json, os, signal, subprocess, sys, time
    root, image, fstypes = sys.argv[1], sys.argv[2], tuple(sys.argv[3].split(","))
    sys.path.insert(0, sys.argv[4])
    from vrmonitor.checks import secstorage_mount
    store = os.path.join(root, "mnt/SecStorage")
    results = {}

    def run_check(label):
        import contextlib, io
        out = io.StringIO()
        started = time.monotonic()
        with contextlib.redirect_stdout(out):
            status = secstorage_mount.main(["basic"], root, fstypes=fstypes)
        results[label] = [status, out.getvalue(), time.monotonic() - started]

    def mounted(point):
        return any(line.split()[4] == point for line in open("/proc/self/mountinfo"))

    writable = os.path.join(store, secstorage_mount.mount_dir("198.18.60.1:/export/secondary"))
    os.makedirs(writable)
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "198.18.60.1:/export/secondary", writable], check=True)
    run_check("writable")
    subprocess.run(["mount", "-o", "remount,ro", writable], check=True)
    run_check("read-only")
    subprocess.run(["umount", writable], check=True)
    dead = os.path.join(store, "dead")
    os.makedirs(dead)
    server = subprocess.Popen(["fuse2fs", image, dead, "-o", "fakeroot", "-f"],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while not mounted(dead):
            time.sleep(0.05)
        run_check("fuse-answering")
        os.kill(server.pid, signal.SIGSTOP)  # the storage server stops answering
        run_check("fuse-dead")
    finally:
        server.kill()
        server.wait()
        subprocess.run(["umount", "-l", dead])
    print(json.dumps(results))
''')


def test_a25_real_mounts_read_only_and_a_dead_storage_server(tmp_path):
    root = system_vm(tmp_path, "type=secstorage name=s-1-VM")
    (root / "root/health_checks_data.json").write_text(json.dumps({
        "health_checks_enabled": True, "health_checks_config": {"systemVmThresholds": "ioTimeout=2;"}}))
    image = tmp_path / "store.img"
    subprocess.run(["truncate", "-s", "8M", str(image)], check=True)
    run("mkfs.ext4", "-q", "-F", str(image))
    started_at = time.monotonic()
    said = run("unshare", "-m", "--propagation", "private", sys.executable, "-c", MOUNTS, str(root),
               str(image), "tmpfs,fuse.ext4", str(PROJECT), timeout=120)
    results = json.loads(said)
    assert results["writable"][:2] == [0, "All 1 secondary storage mounts are mounted and writable\n"]
    assert results["read-only"][:2] == [1, (
        "Secondary storage 198.18.60.1:/export/secondary at /mnt/SecStorage/"
        "49eb28fe-95a8-3b16-9475-59fc8c6e1b19 is read-only\n")]
    assert results["fuse-answering"][:2] == [0, "All 1 secondary storage mounts are mounted and writable\n"]
    assert results["fuse-dead"][:2] == [1, (
        f"Secondary storage {image} at /mnt/SecStorage/dead did not answer within 2 s\n")]
    assert results["fuse-dead"][2] < 2 + 3  # ends at ioTimeout, not when the storage comes back
    assert time.monotonic() - started_at < 60
    assert str(root) not in run("cat", "/proc/self/mountinfo")  # the mounts went with their namespace
