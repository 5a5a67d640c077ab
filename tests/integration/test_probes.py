"""Functional probes against the real daemons, stopped daemons and impostors that never answer."""

import socket
import struct
import threading
import time

import pytest

from vrmonitor.services.probes import DEFAULT_PROBES, ProbeResult, probe


@pytest.mark.root
@pytest.mark.daemons
def test_probe_of_a_running_daemon_succeeds(real_daemon):
    result = probe(real_daemon.probe, real_daemon.port)
    assert result.ok, result.detail


@pytest.mark.root
@pytest.mark.daemons
def test_probe_of_a_stopped_daemon_says_nothing_listens(real_daemon):
    assert real_daemon.service("stop").ok
    result = probe(real_daemon.probe, real_daemon.port)
    assert result == ProbeResult(False, f"{_what(real_daemon.probe)} to "
                                        f"127.0.0.1:{real_daemon.port} refused: nothing listening")


def _what(kind: str) -> str:
    return {"dns": "dns query", "tcp": "tcp connect", "http": "http connect",
            "ssh": "ssh connect"}[kind]


@pytest.mark.root
@pytest.mark.daemons
def test_details_of_real_answers(real_sshd, real_dnsmasq, real_apache):
    ssh = probe("ssh", 22)
    assert ssh.detail.startswith("ssh banner from 127.0.0.1:22: SSH-2.0-OpenSSH_")
    assert probe("dns", 53).detail == "dns query to 127.0.0.1:53 answered: NOERROR"
    assert probe("http", 80).detail == "http GET / to 127.0.0.1:80: HTTP/1.1 200 OK"


def test_default_probes_are_known_kinds():
    assert DEFAULT_PROBES == {"dnsmasq": ("dns", 53), "haproxy": ("tcp", None),
                              "sshd": ("ssh", 22), "apache2": ("http", 80)}


@pytest.fixture
def silent_tcp():
    """A TCP listener that accepts connections (in the kernel's backlog) and never speaks."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


@pytest.fixture
def silent_udp():
    """A UDP socket that receives DNS queries and swallows them."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        yield sink.getsockname()[1]


@pytest.fixture
def talker():
    """A TCP server that sends `reply` to each client, then closes."""
    servers = []

    def serve(reply: bytes, read_first: bool = False) -> int:
        listener = socket.socket()
        listener.bind(("127.0.0.1", 0))
        listener.listen(4)
        servers.append(listener)

        def loop():
            while True:
                try:
                    connection, _ = listener.accept()
                except OSError:
                    return
                with connection:
                    if read_first:
                        connection.recv(4096)
                    connection.sendall(reply)

        threading.Thread(target=loop, daemon=True).start()
        return listener.getsockname()[1]

    yield serve
    for listener in servers:
        listener.close()


def test_ssh_probe_of_a_silent_listener_times_out(silent_tcp):
    began = time.monotonic()
    result = probe("ssh", silent_tcp, timeout=0.5)
    assert result == ProbeResult(
        False, f"ssh banner from 127.0.0.1:{silent_tcp} not received within 0.5 s")
    assert time.monotonic() - began < 1.5


def test_tcp_probe_of_a_silent_listener_succeeds(silent_tcp):
    """A TCP probe only proves the port accepts: the weakest probe."""
    assert probe("tcp", silent_tcp).ok


def test_http_probe_of_a_silent_listener_times_out(silent_tcp):
    result = probe("http", silent_tcp, timeout=0.5)
    assert result == ProbeResult(
        False, f"http GET / to 127.0.0.1:{silent_tcp}: no status line within 0.5 s")


def test_dns_probe_of_a_swallowing_socket_times_out(silent_udp):
    result = probe("dns", silent_udp, timeout=0.5)
    assert result == ProbeResult(
        False, f"dns query to 127.0.0.1:{silent_udp} timed out after 0.5 s")


def test_dns_probe_ignores_replies_to_other_queries():
    """A reply with another ID, or a query echoed back (QR clear), is not an answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as server:
        server.bind(("127.0.0.1", 0))
        port = server.getsockname()[1]

        def answer():
            query, client = server.recvfrom(512)
            query_id = struct.unpack("!H", query[:2])[0]
            server.sendto(struct.pack("!HH", query_id ^ 1, 0x8180) + query[4:], client)
            server.sendto(query, client)  # echo: same ID, QR bit clear
            server.sendto(query[:2] + struct.pack("!H", 0x8185) + query[4:], client)  # REFUSED

        thread = threading.Thread(target=answer)
        thread.start()
        result = probe("dns", port, timeout=2.0)
        thread.join()
    assert result == ProbeResult(True, f"dns query to 127.0.0.1:{port} answered: REFUSED")


def test_ssh_probe_accepts_lines_before_the_banner(talker):
    port = talker(b"hello\r\nSSH-2.0-Test_1.0\r\n")
    assert probe("ssh", port) == ProbeResult(True, f"ssh banner from 127.0.0.1:{port}: "
                                                   "SSH-2.0-Test_1.0")


def test_ssh_probe_of_a_server_that_hangs_up(talker):
    port = talker(b"")
    result = probe("ssh", port)
    assert result == ProbeResult(
        False, f"ssh server at 127.0.0.1:{port} closed the connection without a banner")


def test_http_probe_any_status_counts_as_serving(talker):
    port = talker(b"HTTP/1.0 503 Service Unavailable\r\n\r\n", read_first=True)
    assert probe("http", port) == ProbeResult(
        True, f"http GET / to 127.0.0.1:{port}: HTTP/1.0 503 Service Unavailable")


def test_http_probe_of_something_else(talker):
    port = talker(b"SSH-2.0-Test\r\n", read_first=True)
    result = probe("http", port)
    assert result == ProbeResult(
        False, f"http GET / to 127.0.0.1:{port}: not an HTTP response: 'SSH-2.0-Test'")


def test_none_probe_and_argument_errors():
    assert probe("none") == ProbeResult(True, "no probe")
    with pytest.raises(ValueError, match="unknown probe kind 'ftp'"):
        probe("ftp", 21)
    with pytest.raises(ValueError, match="a tcp probe needs a port"):
        probe("tcp")
    assert not probe("tcp", 1, host="localhost").ok  # names are not looked up


def test_ipv6_loopback():
    with socket.socket(socket.AF_INET6) as listener:
        try:
            listener.bind(("::1", 0))
        except OSError as exc:
            pytest.skip(f"no IPv6 loopback here: {exc}")
        listener.listen(1)
        port = listener.getsockname()[1]
        assert probe("tcp", port, host="::1") == ProbeResult(
            True, f"tcp connect to [::1]:{port} succeeded")
