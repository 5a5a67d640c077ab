"""/root/health_checks_data.json (contract 3.2): defaults, records, and every bad input."""

import json

import pytest

from vrmonitor.cloudstack.health_data import HealthChecksData, load_health_data, parse_health_data
from vrmonitor.errors import ConfigError

# The contract's example, as CsMonitor writes it (indent=4, ensure_ascii=False).
EXAMPLE = {
    "health_checks_basic_run_interval": 3,
    "health_checks_advanced_run_interval": 10,
    "health_checks_enabled": True,
    "excluded_health_checks": ["gateways_check.py"],
    "health_checks_config": {
        "virtualMachines": "vmName=vm-1,macAddress=02:00:4c:5f:00:01,ip=10.1.1.10,dhcp=true,dns=true;",
        "gateways": "gatewaysIps=10.1.1.1 ",
        "systemThresholds": "minDiskNeeded=100.0,maxCpuUsage=100.0,maxMemoryUsage=100.0;",
        "routerVersion": "templateVersion=Cloudstack Release 4.19.1.0 ...,scriptsVersion=abc",
    },
}


def write(tmp_path, content):
    path = tmp_path / "health_checks_data.json"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


def problems_of(tmp_path, content):
    with pytest.raises(ConfigError) as caught:
        load_health_data(write(tmp_path, content))
    assert caught.value.source == "/root/health_checks_data.json"
    return caught.value.problems


def test_contract_example(tmp_path):
    data = load_health_data(write(tmp_path, json.dumps(EXAMPLE, ensure_ascii=False, indent=4)))
    assert data.basic_interval == 3
    assert data.advanced_interval == 10
    assert data.interval("advanced") == 10
    assert data.enabled is True
    assert data.excluded == ("gateways_check.py",)
    assert data.records("virtualMachines") == [{
        "vmName": "vm-1", "macAddress": "02:00:4c:5f:00:01", "ip": "10.1.1.10",
        "dhcp": "true", "dns": "true"}]
    assert data.records("gateways") == [{"gatewaysIps": "10.1.1.1"}]
    assert data.records("systemThresholds") == [
        {"minDiskNeeded": "100.0", "maxCpuUsage": "100.0", "maxMemoryUsage": "100.0"}]


def test_missing_key_gives_none_and_empty_value_an_empty_list():
    # A13: missing key -> None
    data = parse_health_data({"health_checks_config": {"portForwarding": ""}})
    assert data.records("haproxyData") is None
    assert data.records("portForwarding") == []


def test_absent_keys_take_the_contract_defaults():
    assert parse_health_data({}) == HealthChecksData(
        basic_interval=3, advanced_interval=0, enabled=False, excluded=(), config={})
    assert HealthChecksData() == parse_health_data({})


def test_unknown_top_level_keys_are_allowed():
    assert parse_health_data({"health_checks_enabled": True, "new_ms_key": [1]}).enabled is True


def test_integral_float_interval_becomes_int():
    data = parse_health_data({"health_checks_basic_run_interval": 5.0})
    assert data.basic_interval == 5
    assert type(data.basic_interval) is int


def test_missing_file_means_checks_disabled(tmp_path):
    assert load_health_data(tmp_path / "health_checks_data.json") is None


def test_data_is_frozen():
    data = parse_health_data({"health_checks_config": {"a": "b=1"}})
    with pytest.raises(AttributeError):
        data.enabled = True
    with pytest.raises(TypeError):
        data.config["a"] = "c=2"


@pytest.mark.parametrize("content, expected", [
    ('{"health_checks_enabled": true',
     "/root/health_checks_data.json: invalid JSON at line 1 column 31: Expecting ',' delimiter"),
    ('{\n    "health_checks_config": {\n        "gateways": "gatewaysIps=10.1',
     "/root/health_checks_data.json: invalid JSON at line 3 column 21: Unterminated string starting at"),
    ("",
     "/root/health_checks_data.json: invalid JSON at line 1 column 1: Expecting value"),
    ("[1, 2]",
     "/root/health_checks_data.json: (top level): [1, 2] is not of type 'object'"),
    ('"text"',
     "/root/health_checks_data.json: (top level): 'text' is not of type 'object'"),
    ('{"health_checks_config": {"virtualMachines": 5}}',
     "/root/health_checks_data.json: health_checks_config.virtualMachines: 5 is not of type 'string'"),
    ('{"health_checks_config": "a=1"}',
     "/root/health_checks_data.json: health_checks_config: 'a=1' is not of type 'object'"),
    ('{"health_checks_basic_run_interval": true}',
     "/root/health_checks_data.json: health_checks_basic_run_interval: True is not of type 'integer'"),
    ('{"health_checks_advanced_run_interval": -1}',
     "/root/health_checks_data.json: health_checks_advanced_run_interval: -1 is less than the minimum of 0"),
    ('{"health_checks_basic_run_interval": 2.5}',
     "/root/health_checks_data.json: health_checks_basic_run_interval: 2.5 is not of type 'integer'"),
    ('{"health_checks_basic_run_interval": "3"}',
     "/root/health_checks_data.json: health_checks_basic_run_interval: '3' is not of type 'integer'"),
    ('{"health_checks_enabled": "true"}',
     "/root/health_checks_data.json: health_checks_enabled: 'true' is not of type 'boolean'"),
    ('{"excluded_health_checks": "a.py,b.py"}',
     "/root/health_checks_data.json: excluded_health_checks: 'a.py,b.py' is not of type 'array'"),
    ('{"excluded_health_checks": ["a.py", null]}',
     "/root/health_checks_data.json: excluded_health_checks.1: None is not of type 'string'"),
    (b'{"health_checks_config": {"a": "\xff"}}',
     "/root/health_checks_data.json: invalid JSON: not UTF-8 (byte 32)"),
    # found by tests/fuzz/test_fuzz_health_data.py: both were tracebacks
    ("[" * 100_000, "/root/health_checks_data.json: invalid JSON: nested too deeply"),
    ('{"health_checks_basic_run_interval": ' + "9" * 5000 + "}",
     "/root/health_checks_data.json: invalid JSON: Exceeds the limit (4300 digits) for integer "
     "string conversion: value has 5000 digits; use sys.set_int_max_str_digits() to increase "
     "the limit"),
])
def test_one_bad_input(tmp_path, content, expected):
    assert problems_of(tmp_path, content) == [expected]


def test_every_problem_is_reported(tmp_path):
    content = json.dumps({
        "health_checks_enabled": 1,
        "health_checks_basic_run_interval": -3,
        "excluded_health_checks": [1, "ok.py", False],
        "health_checks_config": {"virtualMachines": 5, "gateways": "gatewaysIps=1.1.1.1", "x": None},
    })
    assert problems_of(tmp_path, content) == [
        "/root/health_checks_data.json: excluded_health_checks.0: 1 is not of type 'string'",
        "/root/health_checks_data.json: excluded_health_checks.2: False is not of type 'string'",
        "/root/health_checks_data.json: health_checks_basic_run_interval: -3 is less than the minimum of 0",
        "/root/health_checks_data.json: health_checks_config.virtualMachines: 5 is not of type 'string'",
        "/root/health_checks_data.json: health_checks_config.x: None is not of type 'string'",
        "/root/health_checks_data.json: health_checks_enabled: 1 is not of type 'boolean'",
    ]


def test_unreadable_file_is_named(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_health_data(tmp_path)
    assert caught.value.problems == ["/root/health_checks_data.json: cannot read: Is a directory"]


def test_source_names_the_file_in_messages(tmp_path):
    with pytest.raises(ConfigError) as caught:
        load_health_data(write(tmp_path, "[]"), source="data.json")
    assert caught.value.problems == ["data.json: (top level): [] is not of type 'object'"]
