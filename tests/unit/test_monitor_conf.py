"""/etc/monitor.conf (contract 2.1): the reference writer's output and its quirks."""

import pytest

from vrmonitor.cloudstack.monitor_conf import (
    MonitorConf, ServiceEntry, load_monitor_conf, parse_monitor_conf)
from vrmonitor.errors import ConfigError

# What CsMonitor writes for the four default services: no blank lines, no comments.
REFERENCE = """\
[ssh]
processname=sshd
servicename=ssh
pidfile=/var/run/sshd.pid
[dhcp]
processname=dnsmasq
servicename=dnsmasq
pidfile=/var/run/dnsmasq/dnsmasq.pid
[loadbalancing]
processname=haproxy
servicename=haproxy
pidfile=/var/run/haproxy.pid
[webserver]
processname=apache2
servicename=apache2
pidfile=/var/run/apache2/apache2.pid
"""


def test_reference_file():
    assert parse_monitor_conf(REFERENCE) == MonitorConf(services=(
        ServiceEntry("ssh", "sshd", "ssh", "/var/run/sshd.pid"),
        ServiceEntry("dhcp", "dnsmasq", "dnsmasq", "/var/run/dnsmasq/dnsmasq.pid"),
        ServiceEntry("loadbalancing", "haproxy", "haproxy", "/var/run/haproxy.pid"),
        ServiceEntry("webserver", "apache2", "apache2", "/var/run/apache2/apache2.pid"),
    ), problems=())


def test_keys_are_case_insensitive_and_values_literal():
    text = "[ssh]\nProcessName = sshd\nSERVICENAME=ssh\npidFile=/run/100%sshd.pid\n"
    assert parse_monitor_conf(text) == MonitorConf(
        services=(ServiceEntry("ssh", "sshd", "ssh", "/run/100%sshd.pid"),), problems=())


def test_colon_separates_like_configparser_and_comments_are_skipped():
    text = "# written by hand\n\n[ssh]\n; a comment\nprocessname: sshd\nservicename=ssh\npidfile=/a:b\n"
    assert parse_monitor_conf(text).services == (ServiceEntry("ssh", "sshd", "ssh", "/a:b"),)


def test_duplicate_section_merges_into_the_first_in_file_order():
    text = "[ssh]\nprocessname=sshd\n[dhcp]\nprocessname=dnsmasq\nservicename=dnsmasq\n" \
           "pidfile=/d.pid\n[ssh]\nservicename=ssh\npidfile=/s.pid\n"
    assert parse_monitor_conf(text) == MonitorConf(services=(
        ServiceEntry("ssh", "sshd", "ssh", "/s.pid"),
        ServiceEntry("dhcp", "dnsmasq", "dnsmasq", "/d.pid"),
    ), problems=())


def test_a_key_given_again_keeps_the_later_value_and_says_so():
    text = "[webserver]\nprocessname=apache2\nservicename=apache2\npidfile=/var/run/apache2.pid\n" \
           "pidfile=/var/run/apache2/apache2.pid\nservicename=apache2\n"
    assert parse_monitor_conf(text) == MonitorConf(
        services=(ServiceEntry("webserver", "apache2", "apache2", "/var/run/apache2/apache2.pid"),),
        problems=("/etc/monitor.conf: [webserver].pidfile: given again on line 5; "
                  "'/var/run/apache2/apache2.pid' replaces '/var/run/apache2.pid'",))


def test_section_without_processname_is_skipped_and_the_others_kept():
    text = "[ssh]\nprocessname=sshd\nservicename=ssh\npidfile=/s.pid\n" \
           "[dhcp]\nservicename=dnsmasq\npidfile=/d.pid\n" \
           "[webserver]\nprocessname=\nservicename=apache2\npidfile=/w.pid\n" \
           "[loadbalancing]\nprocessname=haproxy\nservicename=haproxy\npidfile=/l.pid\n"
    assert parse_monitor_conf(text) == MonitorConf(services=(
        ServiceEntry("ssh", "sshd", "ssh", "/s.pid"),
        ServiceEntry("loadbalancing", "haproxy", "haproxy", "/l.pid"),
    ), problems=(
        "/etc/monitor.conf: [dhcp].processname: missing; service skipped",
        "/etc/monitor.conf: [webserver].processname: must not be empty; service skipped",
    ))


def test_missing_servicename_or_pidfile_keeps_the_service_with_none():
    text = "[ssh]\nprocessname=sshd\npidfile=\n[dhcp]\nprocessname=dnsmasq\npidfile=/d.pid\n"
    assert parse_monitor_conf(text) == MonitorConf(services=(
        ServiceEntry("ssh", "sshd", None, None),
        ServiceEntry("dhcp", "dnsmasq", None, "/d.pid"),
    ), problems=(
        "/etc/monitor.conf: [ssh].pidfile: must not be empty",
        "/etc/monitor.conf: [ssh].servicename: missing",
        "/etc/monitor.conf: [dhcp].servicename: missing",
    ))


def test_garbage_lines_and_lines_before_any_section_are_reported_not_fatal():
    text = "processname=orphan\ngarbage\n[ssh]\nprocessname=sshd\nservicename=ssh\n" \
           "more garbage\n=nokey\n[]\npidfile=/s.pid\nfoo=bar\n"
    assert parse_monitor_conf(text) == MonitorConf(
        services=(ServiceEntry("ssh", "sshd", "ssh", "/s.pid"),),
        problems=(
            "/etc/monitor.conf: line 1: 'processname=orphan' comes before the first [section]; ignored",
            "/etc/monitor.conf: line 2: 'garbage' is neither a [section] nor a key=value line; ignored",
            "/etc/monitor.conf: line 6: 'more garbage' is neither a [section] nor a key=value line; ignored",
            "/etc/monitor.conf: line 7: '=nokey' is neither a [section] nor a key=value line; ignored",
            "/etc/monitor.conf: line 8: '[]' is neither a [section] nor a key=value line; ignored",
            "/etc/monitor.conf: [ssh].foo: unknown key; ignored",
        ))


def test_empty_file_means_no_services():
    assert parse_monitor_conf("") == MonitorConf()


def test_missing_file_means_no_services_and_no_problem(tmp_path):
    assert load_monitor_conf(tmp_path / "monitor.conf") == MonitorConf(services=(), problems=())


def test_load_names_the_contract_path_by_default(tmp_path):
    path = tmp_path / "monitor.conf"
    path.write_text("[ssh]\nprocessname=sshd\nservicename=ssh\n")
    assert load_monitor_conf(path).problems == ("/etc/monitor.conf: [ssh].pidfile: missing",)
    assert load_monitor_conf(path, "x.conf").problems == ("x.conf: [ssh].pidfile: missing",)


def test_crlf_line_ends(tmp_path):
    path = tmp_path / "monitor.conf"
    path.write_bytes(b"[ssh]\r\nprocessname=sshd\r\nservicename=ssh\r\npidfile=/s.pid\r\n")
    assert load_monitor_conf(path).services == (ServiceEntry("ssh", "sshd", "ssh", "/s.pid"),)


def test_unreadable_file_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_monitor_conf(tmp_path)
    assert caught.value.problems == ["/etc/monitor.conf: cannot read: Is a directory"]


def test_a_line_not_utf8_skips_its_service_and_names_the_line(tmp_path):
    """Not the whole file: the other services are still monitored (tests/security/test_non_utf8.py)."""
    path = tmp_path / "monitor.conf"
    path.write_bytes(b"[ssh]\nprocessname=\xff\n[dhcp]\nprocessname=dnsmasq\nservicename=dnsmasq\n"
                     b"pidfile=/d.pid\n")
    assert load_monitor_conf(path) == MonitorConf(
        services=(ServiceEntry("dhcp", "dnsmasq", "dnsmasq", "/d.pid"),),
        problems=("/etc/monitor.conf: line 2: 'processname=\\xff' is not UTF-8 text; "
                  "service [ssh] skipped",))


def test_entries_are_frozen():
    entry = ServiceEntry("ssh", "sshd", "ssh", "/s.pid")
    with pytest.raises(AttributeError):
        entry.pidfile = "/other"
