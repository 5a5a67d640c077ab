"""The record-string parser of contract 3.2 (scenario A13) and formatPort."""

import pytest

from vrmonitor.cloudstack.records import format_port, parse_records


@pytest.mark.parametrize("text, expected", [
    # A13, exactly
    ("a=1,b=2;c=3;", [{"a": "1", "b": "2"}, {"c": "3"}]),
    ("x=1=2,y=3", [{"y": "3"}]),
    ("", []),
    # the rest of the contract's rules
    ("  a = 1 , b= 2 ;  ", [{"a": "1", "b": "2"}]),
    (";;a=1;;", [{"a": "1"}]),
    ("a=1,,b=2", [{"a": "1", "b": "2"}]),
    ("x=1=2;y", []),
    ("noequals;c=3", [{"c": "3"}]),
    ("a=1,a=2", [{"a": "2"}]),
    ("gatewaysIps=10.1.1.1 10.1.1.2 ", [{"gatewaysIps": "10.1.1.1 10.1.1.2"}]),
    ("a=", [{"a": ""}]),
    ("   ", []),
])
def test_parse_records(text, expected):
    assert parse_records(text) == expected


def test_parse_records_contract_example():
    text = ("maxconn=4096,sourcePortStart=80,sourcePortEnd=80,sourceIp=192.0.2.21,destPortStart=80,"
            "destPortEnd=80,algorithm=roundrobin,vmIps=10.1.1.10 10.1.1.11;")
    assert parse_records(text) == [{
        "maxconn": "4096", "sourcePortStart": "80", "sourcePortEnd": "80", "sourceIp": "192.0.2.21",
        "destPortStart": "80", "destPortEnd": "80", "algorithm": "roundrobin",
        "vmIps": "10.1.1.10 10.1.1.11"}]


@pytest.mark.parametrize("start, end, delim, expected", [
    ("22", "22", "-", "22"),
    ("22", "25", "-", "22-25"),
    ("22", "25", ":", "22:25"),
])
def test_format_port(start, end, delim, expected):
    assert format_port(start, end, delim) == expected


def test_format_port_default_delimiter():
    assert format_port("80", "81") == "80-81"
